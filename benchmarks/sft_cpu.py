"""SFT speed on CPU: swiftk beside plain trl SFTTrainer (and ms-swift, where its side venv exists).

    .venv/bin/python benchmarks/sft_cpu.py [--rows 1000] [--repeats 3] [--peer] [--quiet_load 0.5]

A fixed model (Qwen2 architecture, 4 layers, hidden 256, about 4M parameters, the demo tokenizer)
and a fixed dataset (the demo corpus's first ROWS conversations); LoRA and full, with and without
packing; each run in its own process, the configurations alternated, OMP_NUM_THREADS=1 (the
machine has 2 cores and other jobs may run), each started once the 1-minute load average is under
--quiet_load (see _support/quiet.py). ``--peer``: only swiftk and ms-swift, unpacked. Prints per
configuration the median wall time of the whole command and its CPU time (user + sys, less sensitive
to other jobs), the time from the command's start to the first training step, training tokens/s,
peak RSS, and ms-swift's wall over this one's (the ratio issue #27 targets).

ms-swift: create `benchmarks/.venv-mswift` (python -m venv; pip install torch==2.13.0 ms-swift==4.6.0
math-verify msgspec) and it is measured too, with --model_type qwen2 --check_model false; both sides use the
chatml template and one sequence batch per optimizer step (ms-swift 4 would accumulate to 16 sequences).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _support.bench_model import MSWIFT, build_model  # benchmarks/ is the script's folder
from _support.peer import matmul_peak_gflops
from _support.quiet import QUIET_LOAD, wait_for_quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT = os.path.join(ROOT, "benchmarks", "_support")


def build_data(path: str, rows: int) -> int:
    subprocess.run(
        [sys.executable, os.path.join(ROOT, "plugins", "demo", "scripts", "make_corpus.py")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    from swiftk_demo import MODEL_DIR

    source = os.path.join(os.path.dirname(MODEL_DIR), "data", "chat.jsonl")
    with open(source) as f, open(path, "w") as out:
        for i, line in enumerate(f):
            if i >= rows:
                break
            out.write(line)
    return rows


def measure(cmd: list[str], env: dict, quiet_load: float = QUIET_LOAD) -> dict:
    load_before = wait_for_quiet(quiet_load)
    marker = tempfile.mktemp(suffix=".json")
    env = {**env, "SWIFTK_BENCH_OUT": marker}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.time()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.time() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{stderr[-3000:]}")
    first = json.load(open(marker))["first_step_at"] - start if os.path.exists(marker) else float("nan")
    # CPU time (user + sys) of the whole command: less sensitive than wall time to other jobs
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "first_step": first, "stdout": stdout, "load_before": load_before}


def swiftk_cmd(model: str, data: str, out: str, train_type: str, packing: bool) -> list[str]:
    return [
        sys.executable,
        "-m",
        "swiftk",
        "sft",
        "--model",
        model,
        "--model_type",
        "qwen2",
        "--template",
        "chatml",
        "--dataset",
        data,
        "--train_type",
        train_type,
        "--num_train_epochs",
        "1",
        "--per_device_train_batch_size",
        "8",
        "--learning_rate",
        "1e-4",
        "--max_length",
        "256",
        "--split_dataset_ratio",
        "0",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--logging_steps",
        "50",
        "--gradient_checkpointing",
        "false",
        "--dataloader_num_workers",
        "0",
        "--add_version",
        "false",
        "--packing",
        str(packing).lower(),
        "--output_dir",
        out,
        "--external_plugins",
        os.path.join(SUPPORT, "first_step.py"),
    ]


def speed_and_memory(kind: str, result: dict, out: str) -> tuple[float, float]:
    """Training tokens/s and the training process's peak RSS (MiB), as each runner reports them."""
    if kind == "trl":
        data = json.loads([l for l in result["stdout"].splitlines() if l.startswith("{")][-1])
        return data["tokens"] / data["train_runtime"], data["peak_memory_mib"]
    if kind == "swiftk":
        summary = json.load(open(os.path.join(out, "run_summary.json")))
        return summary["train_tokens_per_s"], summary["peak_memory_mib"]
    return float("nan"), float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer", action="store_true", help="only swiftk and ms-swift, without packing")
    parser.add_argument(
        "--quiet_load",
        type=float,
        default=QUIET_LOAD,
        help="start each run once the 1-minute load average is under this (0: do not wait)",
    )
    opts = parser.parse_args()
    work = tempfile.mkdtemp(prefix="swiftk-bench-")
    model, data = os.path.join(work, "qwen2-4M"), os.path.join(work, "train.jsonl")
    params = build_model(model)
    print(f"model: {params / 1e6:.2f}M parameters")
    build_data(data, opts.rows)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    configs = [(kind, tt, pk) for tt in ("lora", "full") for pk in (False, True) for kind in ("swiftk", "trl")]
    if opts.peer:
        configs = [("swiftk", tt, False) for tt in ("lora", "full")]
    if os.path.exists(MSWIFT):
        configs += [("ms-swift", tt, False) for tt in ("lora", "full")]
    results: dict[tuple, list[dict]] = {c: [] for c in configs}
    for _ in range(opts.repeats):
        for config in configs:  # alternate the configurations
            kind, train_type, packing = config
            out = tempfile.mkdtemp(dir=work)
            if kind == "swiftk":
                cmd = swiftk_cmd(model, data, out, train_type, packing)
            elif kind == "trl":
                cmd = [
                    sys.executable,
                    os.path.join(SUPPORT, "trl_sft.py"),
                    model,
                    data,
                    out,
                    train_type,
                    str(packing).lower(),
                ]
            else:
                # ms-swift 4 renamed --train_type to --tuner_type
                cmd = [
                    MSWIFT,
                    "sft",
                    "--model",
                    model,
                    "--model_type",
                    "qwen2",
                    "--template",
                    "chatml",
                    "--check_model",
                    "false",
                    "--dataset",
                    data,
                    "--tuner_type",
                    train_type,
                    "--num_train_epochs",
                    "1",
                    "--per_device_train_batch_size",
                    "8",
                    "--gradient_accumulation_steps",  # ms-swift 4 raises it to reach 16 sequences; the page says 1
                    "1",
                    "--learning_rate",
                    "1e-4",
                    "--max_length",
                    "256",
                    "--split_dataset_ratio",
                    "0",
                    "--save_strategy",
                    "no",
                    "--report_to",
                    "none",
                    "--gradient_checkpointing",
                    "false",
                    "--output_dir",
                    out,
                ]
            try:
                result = measure(cmd, env, opts.quiet_load)
            except RuntimeError as exc:  # report the others; say which failed
                print(f"{config}: {str(exc).splitlines()[0][:200]} ... failed", flush=True)
                continue
            result["tokens_per_s"], result["maxrss_mib"] = speed_and_memory(kind, result, out)
            results[config].append(result)
            result["load"] = os.getloadavg()[0]
            print(
                f"{config}: wall {result['wall']:.1f} s, cpu {result['cpu']:.1f} s, "
                f"first step {result['first_step']:.2f} s, {result['tokens_per_s']:.0f} tokens/s, "
                f"load average before {result['load_before']:.2f}, after {result['load']:.2f}",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
    print(
        f"\n{opts.rows} rows, batch 8, max_length 256, 1 epoch, OMP_NUM_THREADS=1, median of {opts.repeats}; "
        f"the highest load average a run started at: "
        f"{max((r['load_before'] for rows in results.values() for r in rows), default=float('nan')):.2f}"
    )
    print(
        f"{'runner':<10}{'train':<7}{'packing':<9}{'wall s':>8}{'cpu s':>8}{'1st step s':>12}{'tokens/s':>10}"
        f"{'peak RSS MiB':>14}{'floor tokens/s':>16}{'ms-swift/this':>15}"
    )
    # the floor: every matmul at this core's fp32 peak, 2 FLOPs per parameter and token per pass (forward 1,
    # backward 1 for the inputs' gradients, + 1 for the weights' in full training)
    peak = matmul_peak_gflops() * 1e9
    for (kind, train_type, packing), rows in results.items():
        if not rows:
            continue
        med = lambda key: statistics.median(r[key] for r in rows)  # noqa: E731
        peer_rows = results.get(("ms-swift", train_type, False))  # the whole-command ratio, as in issue #27
        print(
            f"{kind:<10}{train_type:<7}{str(packing):<9}{med('wall'):>8.1f}{med('cpu'):>8.1f}"
            f"{med('first_step'):>12.2f}{med('tokens_per_s'):>10.0f}{max(r['maxrss_mib'] for r in rows):>14.0f}"
            f"{peak / (2 * params * (2 if train_type == 'lora' else 3)):>16.0f}"
            f"{statistics.median(r['wall'] for r in peer_rows) / med('wall') if peer_rows else float('nan'):>15.2f}"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
