"""Multimodal LoRA speed on CPU: swiftk beside ms-swift on a tiny Qwen2.5-VL checkpoint and the same pictures.

    .venv-mm/bin/python benchmarks/multimodal_cpu.py [--rows 64] [--repeats 3]

The checkpoint is plugins/multimodal/tests/tiny_vlm.py's (random init, built offline, images resized to at most
56x56 pixels by its processor); the data are ROWS colour questions, each with a random picture of 40-80 pixels a
side. Both tools: LoRA on the LLM (--freeze_vit true), one epoch, batch 4, no evaluation or checkpoints, one
torch thread, each run its own process, the tools alternating. Printed per tool: the whole command's median wall
time and CPU time, training tokens/s and images/s (rows / the trainer's train_runtime).

ms-swift: create `benchmarks/.venv-mswift-mm` (python -m venv; pip install torch==2.14.1 torchvision==0.29.1
ms-swift==4.6.0 qwen_vl_utils av) and it runs with --model_type qwen2_5_vl --template qwen2_5_vl
--check_model false.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(ROOT, "plugins", "multimodal", "tests")
MSWIFT = os.path.join(ROOT, "benchmarks", ".venv-mswift-mm", "bin", "swift")
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "MAX_PIXELS": str(56 * 56),  # both tools: ms-swift reads it too
}
COMMON = ["--num_train_epochs", "1", "--per_device_train_batch_size", "4", "--learning_rate", "1e-4",
          "--split_dataset_ratio", "0", "--save_strategy", "no", "--eval_strategy", "no", "--report_to", "none",
          "--logging_steps", "5", "--dataloader_num_workers", "0", "--gradient_checkpointing", "false",
          "--freeze_vit", "true", "--target_modules", "all-linear", "--max_length", "512"]  # fmt: skip


def build(work: str, rows: int) -> tuple[str, str]:
    model = os.path.join(work, "qwen2.5-vl-tiny")
    subprocess.run([sys.executable, os.path.join(TESTS, "tiny_vlm.py"), "qwen2_5_vl", model], check=True, env=ENV)
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    data = os.path.join(work, "pictures.jsonl")
    with open(data, "w") as f:
        for i in range(rows):
            h, w = (int(x) for x in rng.integers(40, 80, size=2))
            path = os.path.join(work, f"p{i}.png")
            Image.fromarray((rng.random((h, w, 3)) * 255).astype("uint8")).save(path)
            answer = ["red", "green", "blue"][i % 3]
            row = {"messages": [{"role": "user", "content": "<image>What colour is it?"},
                                {"role": "assistant", "content": answer}], "images": [path]}  # fmt: skip
            f.write(json.dumps(row) + "\n")
    return model, data


def run(cmd: list[str], out: str) -> dict:
    started = time.time()
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, env=ENV, stdout=log, stderr=log, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - started
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{log.read()[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, **trained(out)}


def trained(out: str) -> dict:
    """The trainer's own final figures (train_runtime), from logging.jsonl (swiftk) or ms-swift's logging.jsonl."""
    for root, _, files in os.walk(out):
        if "logging.jsonl" in files:
            with open(os.path.join(root, "logging.jsonl")) as f:
                rows = [json.loads(line) for line in f if line.strip()]
            final = [r for r in rows if "train_runtime" in r]
            if final:
                runtime = float(str(final[-1]["train_runtime"]).rstrip("s"))
                return {"train_runtime": runtime}
    return {"train_runtime": float("nan")}


def tokens_of(data: str, model: str) -> int:
    """Training tokens of the data as the template encodes them (images expanded): the same for both tools."""
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("sft", ["--model", model, "--dataset", data])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="train")
    with open(data) as f:
        return sum(len(template.encode(json.loads(line))["input_ids"]) for line in f)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="swiftk-mm-bench-")
    model, data = build(work, opts.rows)
    tokens = tokens_of(data, model)
    tools = ["swiftk"] + (["ms-swift"] if os.path.exists(MSWIFT) else [])
    results: dict[str, list] = {t: [] for t in tools}
    for _ in range(opts.repeats):
        for tool in tools:
            out = tempfile.mkdtemp(dir=work)
            if tool == "swiftk":
                cmd = [sys.executable, "-m", "swiftk", "sft", "--model", model, "--dataset", data, "--output_dir", out,
                       "--add_version", "false", *COMMON]  # fmt: skip
            else:  # ms-swift 4 names --train_type --tuner_type
                cmd = [MSWIFT, "sft", "--model", model, "--model_type", "qwen2_5_vl", "--template", "qwen2_5_vl", "--check_model", "false",
                       "--dataset", data, "--output_dir", out, "--tuner_type", "lora", *COMMON]  # fmt: skip
            results[tool].append(run(cmd, out))
    print(f"{opts.rows} rows, {tokens} training tokens, {opts.repeats} runs each (medians)")
    print(f"{'tool':10} {'wall s':>8} {'cpu s':>8} {'train s':>8} {'tokens/s':>9} {'images/s':>9}")
    walls = {}
    for tool, runs in results.items():
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        train = statistics.median(r["train_runtime"] for r in runs)
        walls[tool] = wall
        print(f"{tool:10} {wall:8.1f} {cpu:8.1f} {train:8.1f} {tokens / train:9.1f} {opts.rows / train:9.2f}")
    if "ms-swift" in walls:
        print(f"whole-command speed-up, ms-swift wall / swiftk wall: {walls['ms-swift'] / walls['swiftk']:.2f}x")
    else:
        print("(ms-swift's side venv benchmarks/.venv-mswift-mm is absent: swiftk only)")


if __name__ == "__main__":
    main()
