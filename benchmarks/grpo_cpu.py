"""``swiftk rlhf --rlhf_type grpo`` speed on CPU: seconds per step and rollout tokens/s.

    .venv/bin/python benchmarks/grpo_cpu.py [--steps 20] [--repeats 3] [--groups 8,16,32]

The demo model (swiftk/tiny-chat, 0.9M parameters) with LoRA on swiftk/demo-grpo-sums, the accuracy
reward, groups of 8 completions of up to 32 tokens, and per_device_train_batch_size = each value of
--groups (completions per step: 1, 2 and 4 prompts).  Rollouts run through the pt engine
(continuous batching on the policy being trained).  Each run is its own process with
OMP_NUM_THREADS=1 (2 shared cores).  From logging.jsonl, between the first and the last logged step
(start-up not counted; it is in the wall column): s/step, the rollout's share of a step, and
rollout tokens/s (completion tokens generated / seconds spent generating).  Medians over --repeats.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile

from _support.logged_run import run_logged, seconds_per_step  # benchmarks/ is the script's folder


def run(batch: int, steps: int, out: str) -> dict:
    cmd = [
        "rlhf",
        "--rlhf_type",
        "grpo",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--split_dataset_ratio",
        "0",
        "--reward_funcs",
        "accuracy",
        "--num_generations",
        "8",
        "--per_device_train_batch_size",
        str(batch),
        "--max_completion_length",
        "32",
        "--max_steps",
        str(steps),
        "--learning_rate",
        "1e-3",
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
    rows, wall = run_logged(cmd, out, f"batch {batch}", metric="reward")
    per_step = seconds_per_step(rows)
    measured = rows[1:]
    rollout_s = statistics.mean(r["rollout/seconds"] for r in measured)
    tokens_per_s = statistics.mean(r["rollout/tokens_per_s"] for r in measured)
    length = statistics.mean(r["completions/mean_length"] for r in measured)
    return {
        "s_per_step": per_step,
        "rollout_share": rollout_s / per_step,
        "tokens_per_s": tokens_per_s,
        "mean_length": length,
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--groups", default="8,16,32", help="per_device_train_batch_size values (multiples of 8)")
    opts = parser.parse_args()
    batches = [int(b) for b in opts.groups.split(",") if b]
    results: dict = {b: [] for b in batches}
    root = tempfile.mkdtemp(prefix="swiftk-grpo-bench-")
    try:
        for repeat in range(opts.repeats):
            for batch in batches:  # alternated, so load on the box spreads over every setting
                out = os.path.join(root, f"b{batch}-{repeat}")
                results[batch].append(run(batch, opts.steps, out))
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"GRPO on swiftk/tiny-chat, LoRA, groups of 8, <=32 tokens, {opts.steps} steps, median of {opts.repeats}")
    print("| completions/step | s/step | rollout share | rollout tokens/s | mean completion tokens | wall s |")
    print("|---|---|---|---|---|---|")
    for batch in batches:
        med = {k: statistics.median(r[k] for r in results[batch]) for k in results[batch][0]}
        print(
            f"| {batch} | {med['s_per_step']:.3f} | {med['rollout_share']:.0%} | {med['tokens_per_s']:.0f} | "
            f"{med['mean_length']:.1f} | {med['wall']:.1f} |"
        )


if __name__ == "__main__":
    main()
