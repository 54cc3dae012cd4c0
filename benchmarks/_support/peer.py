"""swiftk beside ms-swift on the same job: the same model folder, data file, template and arguments,
each command in its own process with one torch thread, the two sides alternated."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time

from _support.bench_model import MSWIFT
from _support.logged_run import ENV
from _support.quiet import QUIET_LOAD, wait_for_quiet

#: the arguments both sides take under the same names (ms-swift 4 spells --train_type --tuner_type)
COMMON = {
    "--model_type": "qwen2",
    "--template": "chatml",
    "--split_dataset_ratio": "0",
    "--max_length": "256",
    "--gradient_checkpointing": "false",
    "--save_strategy": "no",
    "--report_to": "none",
    "--dataloader_num_workers": "0",
    "--logging_steps": "5",
    "--seed": "42",
    "--gradient_accumulation_steps": "1",  # ms-swift 4 raises it to reach 16 sequences; the page says 1
}


def command(side: str, argv: list[str], train_type: str, out: str) -> list[str]:
    common = [x for kv in COMMON.items() for x in kv]
    if side == "swiftk":
        return [
            sys.executable,
            "-m",
            "swiftk",
            *argv,
            *common,
            "--train_type",
            train_type,
            "--add_version",
            "false",
            "--output_dir",
            out,
        ]
    return [MSWIFT, *argv, *common, "--tuner_type", train_type, "--check_model", "false", "--output_dir", out]


def measure(cmd: list[str], out: str, quiet_load: float = QUIET_LOAD) -> dict:
    """Whole-command wall and CPU seconds, and the training seconds its trainer logged (train_runtime), the run
    started once the 1-minute load average is under ``quiet_load`` (see :mod:`_support.quiet`)."""
    load_before = wait_for_quiet(quiet_load)
    with open(os.path.join(os.path.dirname(out), os.path.basename(out) + ".log"), "w") as log:
        start = time.time()
        proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - start
    if os.waitstatus_to_exitcode(status) != 0:
        with open(log.name) as f:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed:\n{f.read()[-2500:]}")
    runtime, tokens = float("nan"), float("nan")
    for path in glob.glob(os.path.join(out, "**", "logging.jsonl"), recursive=True):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                runtime = row.get("train_runtime", runtime)
    summary = os.path.join(out, "run_summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            data = json.load(f)
        tokens = (data.get("train_tokens_per_s") or float("nan")) * data["train_runtime_s"]
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "train_s": runtime,
        "tokens": tokens,
        "load_before": load_before,
        "load": os.getloadavg()[0],
    }


def matmul_peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    """This core's fp32 matmul rate (one thread), the floor's denominator."""
    import torch

    torch.set_num_threads(1)
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e9
