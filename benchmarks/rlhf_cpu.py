"""``swiftk rlhf`` speed on CPU: seconds per optimizer step for every --rlhf_type, LoRA and full.

    .venv/bin/python benchmarks/rlhf_cpu.py [--steps 20] [--repeats 1] [--types dpo,kto,ppo] [--train_types lora]

The demo model (swiftk/tiny-chat, 0.9M parameters) on the shipped preference set (swiftk/demo-dpo,
kto on swiftk/demo-kto), 4 pairs (or prompts) per step, --max_length 128, no gradient checkpointing,
each run in its own process with OMP_NUM_THREADS=1 (2 shared cores). PPO uses a reward model this
script trains first (rm, full) and generates up to --response_length 32 tokens per prompt with the
page's other defaults (4 PPO epochs). Seconds/step are measured from logging.jsonl between the
first and the last logged step, so start-up (imports, model and data loading) is not counted; it
is in the wall column, the whole command. All 14 runs (and the reward model) take about 5 minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile

from _support import peer  # benchmarks/ is the script's folder
from _support.bench_model import MSWIFT, build_model, write_rows
from _support.logged_run import run_logged, seconds_per_step

TYPES = ("dpo", "cpo", "simpo", "orpo", "kto", "rm", "ppo")
LR = {"lora": "1e-3", "full": "2e-4"}


def run(rlhf_type: str, train_type: str, steps: int, out: str, reward_model: str = "") -> dict:
    data = "swiftk/demo-kto" if rlhf_type == "kto" else "swiftk/demo-dpo"
    cmd = [
        "rlhf",
        "--rlhf_type",
        rlhf_type,
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        data,
        "--split_dataset_ratio",
        "0",
        "--train_type",
        train_type,
        "--max_steps",
        str(steps),
        "--per_device_train_batch_size",
        "4",
        "--max_length",
        "128",
        "--gradient_checkpointing",
        "false",
        "--learning_rate",
        LR[train_type],
        "--logging_steps",
        "1",
        "--save_steps",
        str(steps),
        "--report_to",
        "none",
        "--add_version",
        "false",
        "--dataloader_num_workers",
        "0",
        "--output_dir",
        out,
    ]
    if rlhf_type == "ppo":
        cmd += ["--reward_model", reward_model, "--response_length", "32", "--num_sample_generations", "0"]
    rows, wall = run_logged(cmd, out, f"{rlhf_type}/{train_type}")
    per_step = seconds_per_step(rows)
    return {"s_per_step": per_step, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--types", default=",".join(TYPES))
    parser.add_argument("--train_types", default="lora,full")
    parser.add_argument("--peer", action="store_true", help="swiftk beside ms-swift (its side venv): see peer_table")
    parser.add_argument("--rows", type=int, default=200, help="--peer: training rows")
    parser.add_argument(
        "--quiet_load",
        type=float,
        default=peer.QUIET_LOAD,
        help="--peer: start each run once the 1-minute load average is under this (0: do not wait)",
    )
    opts = parser.parse_args()
    if opts.peer:
        return peer_table(opts)
    types = [t for t in opts.types.split(",") if t]
    train_types = [t for t in opts.train_types.split(",") if t]
    work = tempfile.mkdtemp(prefix="swiftk-rlhf-bench-")
    reward_model = ""
    if "ppo" in types:  # a reward model for ppo, trained once
        run("rm", "full", opts.steps, os.path.join(work, "reward-model"))
        reward_model = os.path.join(work, "reward-model", f"checkpoint-{opts.steps}")
    results: dict = {}
    try:
        for repeat in range(opts.repeats):
            for rlhf_type in types:  # configurations alternate between repeats
                for train_type in train_types:
                    out = os.path.join(work, f"{rlhf_type}-{train_type}-{repeat}")
                    results.setdefault((rlhf_type, train_type), []).append(
                        run(rlhf_type, train_type, opts.steps, out, reward_model)
                    )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\nswiftk rlhf on swiftk/tiny-chat, batch 4, {opts.steps} steps, median of {opts.repeats}, OMP_NUM_THREADS=1"
    )
    print("| rlhf_type | train_type | s/step | wall s |")
    print("| --- | --- | ---: | ---: |")
    for (rlhf_type, train_type), runs in results.items():
        per_step = statistics.median(r["s_per_step"] for r in runs)
        wall = statistics.median(r["wall"] for r in runs)
        print(f"| {rlhf_type} | {train_type} | {per_step:.3f} | {wall:.1f} |")


PEER_TYPES = ("dpo", "orpo", "kto", "rm", "grpo")


def peer_argv(rlhf_type: str, model: str, data: str, steps: int) -> list[str]:
    """The job both sides run: LoRA or full on the 4M Qwen2, batch 4 (grpo: 2 prompts x 8 completions of up
    to 32 tokens, the accuracy reward), --rpo_alpha 1 (the page's default; ms-swift 4's is none) for dpo."""
    argv = [
        "rlhf",
        "--rlhf_type",
        rlhf_type,
        "--model",
        model,
        "--dataset",
        data,
        "--max_steps",
        str(steps),
        "--learning_rate",
        "1e-4",
    ]
    if rlhf_type == "grpo":
        return argv + [
            "--reward_funcs",
            "accuracy",
            "--num_generations",
            "8",
            "--per_device_train_batch_size",
            "16",
            "--max_completion_length",
            "32",
            "--temperature",
            "1.0",
        ]
    argv += ["--per_device_train_batch_size", "4"]
    return argv + (["--rpo_alpha", "1"] if rlhf_type == "dpo" else [])


def peer_table(opts) -> None:
    """``--peer``: whole-command wall of ms-swift over swiftk per job, training s/step, and the floor: the
    step's matmul FLOPs (2 x matmul parameters x tokens x passes) at this core's measured fp32 peak."""
    if not os.path.exists(MSWIFT):
        raise SystemExit(f"--peer needs ms-swift's side venv: {MSWIFT} (see benchmarks/_support/bench_model.py)")
    work = tempfile.mkdtemp(prefix="swiftk-peer-bench-")
    model = os.path.join(work, "qwen2-4M")
    params = build_model(model)
    matmul_params = params  # the lookup costs nothing, the head counts once: the same total
    peak = peer.matmul_peak_gflops()
    types = [t for t in opts.types.split(",") if t in PEER_TYPES] if opts.types != ",".join(TYPES) else PEER_TYPES
    train_types = [t for t in opts.train_types.split(",") if t]
    results: dict = {}
    try:
        for repeat in range(opts.repeats):
            for rlhf_type in types:
                data = os.path.join(work, f"{rlhf_type}.jsonl")
                if not os.path.exists(data):
                    write_rows(data, {"grpo": "grpo", "kto": "kto"}.get(rlhf_type, "dpo"), opts.rows)
                steps = max(4, opts.steps // 2) if rlhf_type == "grpo" else opts.steps
                for train_type in train_types:
                    for side in ("swiftk", "ms-swift"):  # alternated
                        out = os.path.join(work, f"{side}-{rlhf_type}-{train_type}-{repeat}")
                        cmd = peer.command(side, peer_argv(rlhf_type, model, data, steps), train_type, out)
                        try:
                            got = peer.measure(cmd, out, opts.quiet_load)
                        except RuntimeError as exc:
                            print(f"{side} {rlhf_type} {train_type}: {exc}", flush=True)
                            continue
                        got["steps"] = steps
                        results.setdefault((rlhf_type, train_type, side), []).append(got)
                        print(
                            f"{side} {rlhf_type} {train_type}: wall {got['wall']:.1f} s, train {got['train_s']:.1f} s, "
                            f"load before {got['load_before']:.2f}, after {got['load']:.2f}",
                            flush=True,
                        )
                        shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n4M Qwen2 (chatml template), {opts.rows} rows, median of {opts.repeats}, OMP_NUM_THREADS=1; "
        f"fp32 matmul peak {peak:.0f} GFLOPS; the highest load average a run started at: "
        f"{max((r['load_before'] for runs in results.values() for r in runs), default=float('nan')):.2f}"
    )
    print(
        "| job | train | swiftk wall s | ms-swift wall s | ratio | swiftk s/step | ms-swift s/step | tokens/s | floor s/step |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for rlhf_type in types:
        for train_type in train_types:
            ours, theirs = (
                results.get((rlhf_type, train_type, "swiftk")),
                results.get((rlhf_type, train_type, "ms-swift")),
            )
            if not ours:
                continue
            med = lambda runs, key: statistics.median(r[key] for r in runs) if runs else float("nan")  # noqa: E731
            steps = ours[0]["steps"]
            tokens_per_step = med(ours, "tokens") / steps
            # forward 1 + backward (input grads 1, weight grads 1 for full) + the reference's forward for dpo/kto
            passes = (2 if train_type == "lora" else 3) + (1 if rlhf_type in ("dpo", "kto") else 0)
            floor = 2 * matmul_params * tokens_per_step * passes / (peak * 1e9)
            print(
                f"| {rlhf_type} | {train_type} | {med(ours, 'wall'):.1f} | {med(theirs, 'wall'):.1f} | "
                f"{med(theirs, 'wall') / med(ours, 'wall'):.2f} | {med(ours, 'train_s') / steps:.3f} | "
                f"{med(theirs, 'train_s') / steps:.3f} | {tokens_per_step * steps / med(ours, 'train_s'):.0f} | "
                f"{floor:.3f} |"
            )


if __name__ == "__main__":
    main()
