"""Run a swiftk command as a benchmark does: its own process, one torch thread, offline; read its log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

ENV = {
    "OMP_NUM_THREADS": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRL_EXPERIMENTAL_SILENCE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def run_logged(argv: list[str], output_dir: str, what: str, metric: str = "loss") -> tuple[list[dict], float]:
    """``python -m swiftk argv``; the logged training steps (rows with ``metric``) and the wall seconds."""
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *argv], env={**os.environ, **ENV}, capture_output=True, text=True
    )
    wall = time.time() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    with open(os.path.join(output_dir, "logging.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if metric in r and "elapsed_s" in r and "train_runtime" not in r], wall


def seconds_per_step(rows: list[dict]) -> float:
    """Between the first and the last logged step, so start-up is not counted."""
    first, last = rows[0], rows[-1]
    return (last["elapsed_s"] - first["elapsed_s"]) / max(1, last["global_step"] - first["global_step"])
