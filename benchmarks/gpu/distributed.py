"""ZeRO-3 and FSDP on the GPUs a lent machine has: ``NPROC_PER_NODE=<GPUs> swiftk sft`` per engine, timed.

    python benchmarks/gpu/distributed.py [--model swiftk/tiny-chat] [--engines zero3,fsdp2,zero3_lora,fsdp2_lora]
        [--steps 3] [--batch 2] [--out /tmp/swiftk-distributed]

FSDP runs only on GPUs (accelerate drops it on CPU, so the CPU tests cover DDP and ZeRO only): this is where
it is exercised. Each engine trains the demo model (or --model) for --steps steps on every GPU, then its last
checkpoint is reloaded by ``swiftk infer`` (an adapter through --adapters). One JSON line per engine: wall
time, the run's peak memory (``run_summary.json``), the memory estimate it printed, whether the reload
answered; with one GPU the engines run on one rank (still sharded code paths, no speed-up). Exit code 1 if
any engine failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

FSDP = ["--fsdp", "full_shard auto_wrap", "--fsdp_config", '{"fsdp_version": 2}']
ENGINES = {
    "zero3": ["--deepspeed", "zero3", "--train_type", "full"],
    "fsdp2": [*FSDP, "--train_type", "full"],
    "zero3_lora": ["--deepspeed", "zero3", "--train_type", "lora"],
    "fsdp2_lora": [*FSDP, "--train_type", "lora"],
}


def gpus() -> int:
    import torch

    return torch.cuda.device_count()


def swiftk(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "swiftk", *argv], capture_output=True, text=True, env=full)


def run(engine: str, opts: argparse.Namespace, nproc: int) -> dict:
    out = os.path.join(opts.out, engine)
    argv = ["sft", "--model", opts.model, "--dataset", opts.dataset, "--max_steps", str(opts.steps),
            "--per_device_train_batch_size", str(opts.batch), "--split_dataset_ratio", "0", "--add_version", "false",
            "--report_to", "none", "--bf16", "true", "--output_dir", out, *ENGINES[engine]]  # fmt: skip
    start = time.time()
    proc = swiftk(*argv, env={"NPROC_PER_NODE": str(nproc)})
    row = {"engine": engine, "ranks": nproc, "ok": proc.returncode == 0, "wall_s": round(time.time() - start, 1)}
    estimate = re.search(r"memory estimate per rank: ([\d.]+) GiB", proc.stdout)
    row["estimate_gib"] = float(estimate.group(1)) if estimate else None
    if proc.returncode != 0:
        row["error"] = proc.stderr[-1500:]
        return row
    summary = json.load(open(os.path.join(out, "run_summary.json")))
    row["peak_memory_gib"] = round(summary["peak_memory_mib"] / 1024, 2)
    ckpt = summary["last_model_checkpoint"]
    load = ["--adapters", ckpt] if engine.endswith("_lora") else ["--model", ckpt]
    infer = swiftk("infer", *load, "--val_dataset", f"{opts.dataset}#2", "--max_new_tokens", "8",
                   "--result_path", os.path.join(out, "infer.jsonl"))  # fmt: skip
    row["reloads"] = infer.returncode == 0
    if infer.returncode != 0:
        row["error"] = infer.stderr[-1500:]
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="swiftk/tiny-chat")
    parser.add_argument("--dataset", default="swiftk/demo-sft")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--out", default="/tmp/swiftk-distributed")
    opts = parser.parse_args()
    nproc = gpus()
    if nproc == 0:
        print(
            json.dumps(
                {"skipped": "no GPU: FSDP runs on GPUs only; the CPU tests cover ZeRO (tests/test_distributed.py)"}
            )
        )
        return 0
    failed = False
    for engine in opts.engines.split(","):
        row = run(engine, opts, nproc)
        failed |= not (row["ok"] and row.get("reloads"))
        print(json.dumps(row), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
