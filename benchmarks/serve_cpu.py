"""Serving speed on CPU: `swiftk deploy` and `swiftk infer` beside ms-swift's `swift deploy` / `swift infer`.

    .venv/bin/python benchmarks/serve_cpu.py [--repeats 3] [--random-weights] [--no-peer]

Model: swiftk/tiny-chat (0.9M parameters, Qwen2 architecture); with --random-weights, a randomly
initialised copy of it, which seldom emits eos, so that every answer has --max-tokens tokens (how the
peer figures in ../shared/design/stack.md were taken). Greedy, --max-tokens 32. Each server runs
with OMP_NUM_THREADS=1 (2 shared cores; oversubscribed threads make runs meaningless); the two
sides alternate within each repeat, and the median over repeats is printed.

Per side:
- import floor: a fresh interpreter importing torch and transformers' Qwen2 modeling module, the
  part of deploy ready and of infer that only the libraries decide;
- deploy ready: from starting `deploy` to the first 200 from GET /v1/models;
- tokens/s with 1, 4 and 16 concurrent clients, each sending --requests non-streamed chat
  completions back to back: the tokens each server generated, over the wall time. ms-swift's
  `completion_tokens` counts the end-of-sequence token an answer stops on and swiftk's does not, so
  for swiftk that token is added back (one per choice that stopped); `reported_tokens_s` is the
  `completion_tokens` each server reports, as is;
- server CPU ms per completion token under that load (user + sys of every process of the server's
  session, from /proc): how much work a token costs, much less sensitive to other jobs than tokens/s;
- time to first token p50/p95: the same load, streamed, until the first content chunk;
- `infer` over 8 prompts x 32 tokens, the whole command (process start to exit), wall time and the
  process's CPU time (user + sys; less sensitive to other jobs on the machine).

ms-swift: `benchmarks/.venv-mswift` (python -m venv; pip install torch==2.13.0 ms-swift==4.6.0), used
with --model_type qwen2 --template chatml when it exists.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from _support.quiet import QUIET_LOAD, wait_for_quiet  # benchmarks/ is the script's folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MSWIFT = os.path.join(ROOT, "benchmarks", ".venv-mswift", "bin", "swift")
SWIFTK = [sys.executable, "-m", "swiftk"]
PROMPTS = [
    "What is 3 + 4?",
    "Who are you?",
    "What color is grass?",
    "Count from 2 to 5.",
    "Tell me a joke.",
    "What is 2 + 2?",
    "Say hello.",
    "Name a fruit.",
    "What is 10 - 3?",
    "Are you a robot?",
    "What is the capital of France?",
    "Thank you!",
    "Hi",
    "What day is it?",
    "What is 5 + 6?",
    "你好",
]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_dir(random_weights: bool, tmp: str) -> str:
    from swiftk_demo import MODEL_DIR

    if not random_weights:
        return MODEL_DIR
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = os.path.join(tmp, "tiny-random")
    config = AutoModelForCausalLM.from_pretrained(MODEL_DIR).config
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(MODEL_DIR).save_pretrained(folder)
    return folder


def env() -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


PEER_EXTRA: list[str] = []


def start(side: str, model: str, port: int, log) -> tuple[subprocess.Popen, float]:
    if side == "swiftk":
        cmd = SWIFTK + [
            "deploy",
            "--model",
            model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--verbose",
            "false",
            "--log_interval",
            "-1",
        ]
    else:
        cmd = [
            MSWIFT,
            "deploy",
            "--model",
            model,
            "--model_type",
            "qwen2",
            "--template",
            "chatml",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--verbose",
            "false",
            *PEER_EXTRA,
        ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    while True:
        if proc.poll() is not None:
            stop(proc)
            raise RuntimeError(f"{side} deploy exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.02)
        if time.perf_counter() - t0 > 300:
            stop(proc)
            raise RuntimeError(f"{side} deploy not ready in 300 s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (`swift deploy` runs its server in a child process)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


#: whether a side's ``completion_tokens`` leaves out the end-of-sequence token an answer stopped on
#: (swiftk does; ms-swift counts it): tokens/s counts it on both sides, as a generated token
EOS_UNCOUNTED = {"swiftk": True, "ms-swift": False}


def generated(side: str, completion_tokens: int, finish_reasons: list) -> int:
    """The tokens the engine generated for an answer: ``completion_tokens`` plus, where the side leaves
    it out, the end-of-sequence token of each choice that stopped (no stop words are sent here)."""
    return completion_tokens + (sum(r == "stop" for r in finish_reasons) if EOS_UNCOUNTED[side] else 0)


def post(port: int, body: dict, stream: bool, side: str) -> tuple[int, int, float]:
    """(completion tokens as reported, tokens generated (see :func:`generated`), seconds to the first
    content chunk or to the answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    t0 = time.perf_counter()
    conn.request(
        "POST", "/v1/chat/completions", json.dumps({**body, "stream": stream}), {"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {response.read()[:300]!r}")
    if not stream:
        data = json.loads(response.read())
        conn.close()
        reported = data["usage"]["completion_tokens"]
        reasons = [c.get("finish_reason") for c in data["choices"]]
        return reported, generated(side, reported, reasons), time.perf_counter() - t0
    first, tokens, reasons = None, 0, []
    for raw in response:
        line = raw.strip()
        if not line.startswith(b"data:") or line == b"data: [DONE]":
            continue
        chunk = json.loads(line[5:])
        if first is None and any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
            first = time.perf_counter() - t0
        reasons += [c["finish_reason"] for c in chunk.get("choices") or [] if c.get("finish_reason")]
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    conn.close()
    return tokens, generated(side, tokens, reasons), first if first is not None else time.perf_counter() - t0


def load(
    port: int, clients: int, requests: int, max_tokens: int, stream: bool, side: str
) -> tuple[float, float, list[float]]:
    """Generated tokens/s, reported completion tokens/s, and each request's seconds (see :func:`post`)."""
    results: list[tuple[int, int, float]] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        for j in range(requests):
            body = {
                "model": global_name[0],
                "messages": [{"role": "user", "content": PROMPTS[(i + j) % len(PROMPTS)]}],
                "max_tokens": max_tokens,
                "temperature": 0,
            }
            result = post(port, body, stream, side)
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return sum(r[1] for r in results) / wall, sum(r[0] for r in results) / wall, [r[2] for r in results]


def session_cpu(sid: int) -> float:
    """CPU seconds (user + sys) of the live processes of session ``sid`` (the server and its children)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # fields after the name: state, ppid, pgrp, session, ...
            total += int(fields[11]) + int(fields[12])
    return total / tick


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def serve(side: str, model: str, args, log) -> dict:
    port = free_port()
    proc, ready = start(side, model, port, log)
    out = {"ready_s": ready}
    try:
        # served_model_name differs per side: ask the server
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models") as r:
            name = json.loads(r.read())["data"][0]["id"]
        global_name[0] = name
        post(
            port, {"model": name, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}, False, side
        )  # warm-up
        for clients in args.clients:
            cpu = session_cpu(proc.pid)
            wall = time.perf_counter()
            tps, reported, _ = load(port, clients, args.requests, args.max_tokens, stream=False, side=side)
            tokens = tps * (time.perf_counter() - wall)
            out[f"cpu_ms_per_tok@{clients}"] = 1000 * (session_cpu(proc.pid) - cpu) / max(tokens, 1)
            _, _, ttft = load(port, clients, args.requests, args.max_tokens, stream=True, side=side)
            out[f"tokens_s@{clients}"] = tps
            out[f"reported_tokens_s@{clients}"] = reported
            out[f"ttft_p50_ms@{clients}"] = 1000 * percentile(ttft, 0.5)
            out[f"ttft_p95_ms@{clients}"] = 1000 * percentile(ttft, 0.95)
    finally:
        stop(proc)
    return out


global_name = ["m"]


def infer(side: str, model: str, tmp: str, max_tokens: int, log) -> tuple[float, float]:
    data = os.path.join(tmp, "prompts.jsonl")
    with open(data, "w") as f:
        for p in PROMPTS[:8]:
            f.write(json.dumps({"messages": [{"role": "user", "content": p}]}) + "\n")
    result = os.path.join(tmp, f"{side}-result.jsonl")
    common = [
        "--model",
        model,
        "--val_dataset",
        data,
        "--max_new_tokens",
        str(max_tokens),
        "--temperature",
        "0",
        "--result_path",
        result,
    ]
    if side == "swiftk":
        cmd = SWIFTK + ["infer", *common]
    else:
        cmd = [MSWIFT, "infer", *common, "--model_type", "qwen2", "--template", "chatml"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env())
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return wall, usage.ru_utime + usage.ru_stime  # CPU time: less sensitive than wall time to other jobs


#: what every command of a side imports before it can load a Qwen2 model: torch and transformers' Qwen2
#: modeling module (for swiftk, inside its start-up phase, as `deploy` and `infer` import them)
IMPORT_FLOOR = {
    "swiftk": "import torch\nfrom swiftk.startup import startup_phase\nwith startup_phase():\n"
    "    import transformers.models.qwen2.modeling_qwen2",
    "ms-swift": "import torch\nimport transformers.models.qwen2.modeling_qwen2",
}


def import_floor(side: str, tries: int = 2) -> float:
    """Seconds for a fresh interpreter of that side to import what loading the model needs, and exit: the
    part of `deploy ready` and of `infer` that only the libraries' import time decides (the best of
    ``tries``, as the least disturbed by other jobs)."""
    python = sys.executable if side == "swiftk" else os.path.join(os.path.dirname(MSWIFT), "python")
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        subprocess.run([python, "-c", IMPORT_FLOOR[side]], check=True, env=env())
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 16])
    parser.add_argument(
        "--requests",
        type=int,
        default=32,
        help="requests per client per measurement (enough for a steady state: with a few, the "
        "start and the tail, where fewer clients are left, weigh on the figure)",
    )
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--random-weights", action="store_true")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=QUIET_LOAD,
        help="start each server and each infer once the 1-minute load average is under this (0: do not wait)",
    )
    parser.add_argument("--no-infer", action="store_true")
    parser.add_argument(
        "--peer-max-batch-size",
        type=int,
        default=None,
        help="pass --max_batch_size N to ms-swift (default: its own default)",
    )
    args = parser.parse_args()
    if args.peer_max_batch_size:
        PEER_EXTRA.extend(["--max_batch_size", str(args.peer_max_batch_size)])
    sides = ["swiftk"] + ([] if args.no_peer or not os.path.exists(MSWIFT) else ["ms-swift"])
    tmp = tempfile.mkdtemp(prefix="serve-bench-")
    os.chdir(tmp)  # what the servers write beside them (ms-swift's result/<model>/deploy_result/) stays out of the tree
    model = model_dir(args.random_weights, tmp)
    log = open(os.path.join(tmp, "servers.log"), "w")
    results: dict[str, list[dict]] = {s: [] for s in sides}
    for repeat in range(args.repeats):
        for side in sides if repeat % 2 == 0 else sides[::-1]:
            row = {"load_before": wait_for_quiet(args.quiet_load), "import_floor_s": import_floor(side)}
            row.update(serve(side, model, args, log))
            if not args.no_infer:
                row["load_before_infer"] = wait_for_quiet(args.quiet_load)
                row["infer_8x32_s"], row["infer_8x32_cpu_s"] = infer(side, model, tmp, args.max_tokens, log)
            results[side].append(row)
            print(
                f"[{repeat + 1}/{args.repeats}] {side}: " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()),
                flush=True,
            )
    print(
        f"\nmedian of {args.repeats} (model {'random-weights ' if args.random_weights else ''}tiny-chat, greedy, "
        f"max_tokens {args.max_tokens}, {args.requests} requests per client; logs: {log.name})"
    )
    keys = list(results[sides[0]][0])
    print(f"{'':24}" + "".join(f"{s:>12}" for s in sides))
    for key in keys:
        print(f"{key:24}" + "".join(f"{statistics.median(r[key] for r in results[s]):12.2f}" for s in sides))
    summary = {s: {k: statistics.median(r[k] for r in results[s]) for k in keys} for s in sides}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
