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

from _support.logged_run import run_logged, seconds_per_step  # benchmarks/ is the script's folder

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
    opts = parser.parse_args()
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


if __name__ == "__main__":
    main()
