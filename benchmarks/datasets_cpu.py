"""Load, preprocess and tokenize 200,000 short rows with dataset_num_proc 1 and 2.

Each configuration runs in its own process (so peak memory is its own), alternating, with
OMP_NUM_THREADS=1 and a tiny BPE tokenizer trained here.  Printed per run: seconds and rows/s for
``load_datasets`` (read + preprocess to messages) and for ``encode_dataset`` (tokenize); the main
process's peak RSS (getrusage); and the peak over time of the whole process tree, workers
included (sampled every 250 ms), as PSS (shared pages counted once) and as summed RSS (an upper bound).  Rows mix the messages, alpaca and query/response forms; 1 in 100 is bad.

    .venv/bin/python benchmarks/datasets_cpu.py [rows] [repeats]
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, os.path.join(sys.argv[3], "plugins", "datasets", "tests"))
from ds_helpers import ChatEncoder, make_tokenizer
from swiftk.cli.builtin import resolve_arguments
from swiftk.pipelines.data import encode_dataset, load_datasets

path, num_proc = sys.argv[1], int(sys.argv[2])
tokenizer = make_tokenizer()
args = resolve_arguments("sft", ["--dataset", path, "--dataset_num_proc", str(num_proc), "--split_dataset_ratio", "0"])
t0 = time.perf_counter()
train, _ = load_datasets(args)
t1 = time.perf_counter()
encoded = encode_dataset(train, ChatEncoder(tokenizer), num_proc=num_proc)
t2 = time.perf_counter()
print("RESULT " + json.dumps({"rows": len(train), "encoded": len(encoded), "load_s": t1 - t0, "encode_s": t2 - t1,
                              "main_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_rows(path: str, n: int) -> None:
    rng = random.Random(0)
    words = "the a of to and in is it you that he was for on are with as his they be at one have this".split()

    def text(k: int) -> str:
        return " ".join(rng.choice(words) for _ in range(k))

    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            kind = i % 3
            if i % 100 == 99:
                row = {"messages": [{"role": "user", "content": text(5)}]}  # no answer: dropped
            elif kind == 0:
                row = {"messages": [{"role": "user", "content": text(8)}, {"role": "assistant", "content": text(12)}]}
            elif kind == 1:
                row = {"instruction": text(6), "input": text(3), "output": text(10)}
            else:
                row = {"query": text(7), "response": text(11), "system": "Be brief."}
            f.write(json.dumps(row) + "\n")


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) over a process and its workers; PSS counts pages that forked workers
    share with the parent once, so it is the memory the configuration really holds."""
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc] + proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    rss = pss = 0
    for p in procs:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def run_one(path: str, num_proc: int, root: str) -> dict:
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, str(num_proc), root],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    peak = [0.0, 0.0]

    def sample() -> None:
        while proc.poll() is None:
            rss, pss = tree_memory_mb(proc.pid)
            peak[0], peak[1] = max(peak[0], rss), max(peak[1], pss)
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"num_proc {num_proc} failed:\n{err[-3000:]}")
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    result["tree_rss_mb"], result["tree_pss_mb"] = peak
    return result


def main(n: int = 200_000, repeats: int = 2) -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.jsonl")
        write_rows(path, n)
        print(
            f"{n:,} rows, {os.path.getsize(path) / 2**20:.1f} MiB of JSON lines; OMP_NUM_THREADS=1; "
            f"{repeats} runs per configuration, alternating"
        )
        results: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(repeats):
            for num_proc in (1, 2):
                results[num_proc].append(run_one(path, num_proc, root))
    header = (
        f"{'num_proc':>8} {'kept rows':>10} {'load s':>8} {'load rows/s':>12} {'tokenize s':>11} "
        f"{'tok rows/s':>11} {'total rows/s':>13} {'main RSS MiB':>13} {'tree PSS MiB':>13} "
        f"{'tree RSS MiB':>13}"
    )
    print(header)
    for num_proc, runs in results.items():
        load_s = statistics.median(r["load_s"] for r in runs)
        enc_s = statistics.median(r["encode_s"] for r in runs)
        print(
            f"{num_proc:>8} {runs[0]['rows']:>10,} {load_s:>8.2f} {n / load_s:>12,.0f} {enc_s:>11.2f} "
            f"{runs[0]['rows'] / enc_s:>11,.0f} {n / (load_s + enc_s):>13,.0f} "
            f"{max(r['main_peak_mb'] for r in runs):>13,.0f} {max(r['tree_pss_mb'] for r in runs):>13,.0f} "
            f"{max(r['tree_rss_mb'] for r in runs):>13,.0f}"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000, int(sys.argv[2]) if len(sys.argv) > 2 else 2)
