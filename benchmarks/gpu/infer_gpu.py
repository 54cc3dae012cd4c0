"""The inference engines side by side on a GPU: pt (continuous batching), vllm, lmdeploy.

    python benchmarks/gpu/infer_gpu.py --model /path/to/Qwen2.5-0.5B-Instruct [--engines pt,vllm,lmdeploy]
        [--prompts 64] [--max-tokens 128] [--concurrency 1,8,32]

Each engine is built once in this process (the ones whose package is missing are reported and
skipped), warmed up, then measured: output tokens/s over --prompts greedy requests submitted at
once with `infer` (offline), and, through the engines' asyncio API, tokens/s and time to first token
p50/p95 with 1, 8 and 32 concurrent streams. Greedy answers of every engine are compared with
pt's (the share that match exactly is printed; small numeric differences can flip a token).
Run each engine in its own process (--engines one at a time) when GPU memory is short.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time

PROMPTS = [
    "Write a short poem about the sea.",
    "Explain what a hash table is.",
    "What is 17 * 23?",
    "Give three tips for learning a language.",
    "Summarise the plot of Hamlet.",
    "What is recursion?",
    "Translate 'good morning' into French, German and Spanish.",
    "Why is the sky blue?",
]


def build(engine: str, model: str, extra: list[str]):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.command import build_engine

    args = resolve_arguments("infer", ["--model", model, "--infer_backend", engine, *extra])
    return build_engine(args)


async def streams(engine, requests, config, concurrency: int) -> tuple[float, list[float]]:
    semaphore = asyncio.Semaphore(concurrency)
    ttft: list[float] = []
    tokens = 0

    async def one(request) -> None:
        nonlocal tokens
        async with semaphore:
            t0 = time.perf_counter()
            first = None
            async for chunk in engine.infer_stream_async(request, config, strict=False):
                if first is None and chunk.choices and chunk.choices[0].delta.get("content"):
                    first = time.perf_counter() - t0
                if chunk.usage is not None:
                    tokens += chunk.usage.completion_tokens
            ttft.append(first if first is not None else time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(r) for r in requests))
    return tokens / (time.perf_counter() - t0), ttft


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--engines", default="pt,vllm,lmdeploy")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--max-batch-size", type=int, default=64, help="pt engine's concurrent sequences")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from swiftk.errors import UsageError
    from swiftk.infer import InferRequest, RequestConfig

    requests = [
        InferRequest([{"role": "user", "content": PROMPTS[i % len(PROMPTS)] + f" ({i})"}]) for i in range(args.prompts)
    ]
    config = RequestConfig(max_tokens=args.max_tokens, temperature=0)
    report: dict[str, dict] = {}
    reference = None
    for name in args.engines.split(","):
        extra = {
            "pt": ["--max_batch_size", str(args.max_batch_size)],
            "vllm": ["--gpu_memory_utilization", "0.6"],
            "lmdeploy": ["--cache_max_entry_count", "0.5"],
        }.get(name, [])
        t0 = time.perf_counter()
        try:
            engine = build(name, args.model, extra)
        except UsageError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        row: dict = {"load_s": time.perf_counter() - t0}
        engine.infer(requests[:2], config)  # warm-up
        t0 = time.perf_counter()
        answers = engine.infer(requests, config)
        wall = time.perf_counter() - t0
        row["offline_tokens_s"] = sum(a.usage.completion_tokens for a in answers) / wall
        texts = [a.choices[0].message["content"] for a in answers]
        if reference is None:
            reference = texts
        row["greedy_match_pt"] = sum(a == b for a, b in zip(texts, reference)) / len(texts)
        for c in (int(x) for x in args.concurrency.split(",")):
            coro = streams(engine, requests, config, c)
            # engines on an asyncio API stay on the loop they started on
            tps, ttft = engine._run(coro).result() if hasattr(engine, "stop_loop") else asyncio.run(coro)
            row[f"tokens_s@{c}"] = tps
            row[f"ttft_p50_ms@{c}"] = 1000 * statistics.median(ttft)
            row[f"ttft_p95_ms@{c}"] = 1000 * sorted(ttft)[int(0.95 * (len(ttft) - 1))]
        engine.close()
        report[name] = row
        print(name + ": " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()), flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())
