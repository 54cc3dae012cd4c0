"""Where a swiftk command's wall time goes: start-up, the training loop by phase, and the end, from one cProfile run.

    .venv/bin/python benchmarks/profile_command.py [--top 25] [-- rlhf --rlhf_type grpo --model ... (any swiftk argv)]

Without a command it profiles 5 GRPO steps of the demo model (LoRA, groups of 8 completions of up to 32 tokens).

The command runs in this process (one torch thread, offline, as the other benchmarks run it) under cProfile. Printed:
the phases below as seconds and shares of the wall (a phase's cumulative time: nested phases are also inside their
parents), then the ``--top`` functions by own time.  Use it beside ``rlhf_cpu.py --peer`` / ``sft_cpu.py`` to
see what is left to gain: the part of a job above its matmul floor that is not forward/backward/optimizer.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time

from _support.logged_run import ENV  # benchmarks/ is the script's folder

#: phase -> (file suffix, function name) pairs whose cumulative times it sums (the first found of each)
PHASES: dict[str, list[tuple[str, str]]] = {
    "train loop (Trainer.train)": [("transformers/trainer.py", "train")],
    "  training_step": [("transformers/trainer.py", "training_step")],
    "    forward + loss (compute_loss)": [
        ("transformers/trainer.py", "compute_loss"),
        ("trl/trainer/grpo_trainer.py", "compute_loss"),
        ("trl/trainer/dpo_trainer.py", "compute_loss"),
    ],
    "    backward": [("accelerate/accelerator.py", "backward")],
    "  optimizer step": [("torch/optim/optimizer.py", "wrapper")],
    "  GRPO: generate and score": [("trl/trainer/grpo_trainer.py", "_generate_and_score_completions")],
    "    rollouts (engine)": [("swiftk_grpo/rollout.py", "__call__"), ("swiftk_grpo/server_rollout.py", "__call__")],
    "    rewards": [("trl/trainer/grpo_trainer.py", "_calculate_rewards")],
    "    log-probs of old/ref policy": [("trl/trainer/grpo_trainer.py", "_get_per_token_logps_and_entropies")],
    "  evaluation": [("transformers/trainer.py", "evaluate")],
    "  logging (Trainer.log)": [("transformers/trainer.py", "log")],
    "  checkpoint saves": [("transformers/trainer.py", "_save_checkpoint")],
    "dataset load + encode": [
        ("swiftk/pipelines/data.py", "load_datasets"),
        ("swiftk/pipelines/data.py", "encode_dataset"),
    ],
    "model load": [("swiftk/pipelines/model.py", "load_model_and_processor")],
    "loss-curve plots": [("swiftk_sft/plots.py", "write_plots")],
}


#: the command profiled when none is given
DEFAULT = [
    "rlhf", "--rlhf_type", "grpo", "--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-grpo-sums",
    "--split_dataset_ratio", "0", "--reward_funcs", "accuracy", "--num_generations", "8",
    "--per_device_train_batch_size", "16", "--max_completion_length", "32", "--max_steps", "5",
    "--save_strategy", "no", "--report_to", "none", "--add_version", "false", "--logging_steps", "1",
    "--output_dir", os.path.join(tempfile.gettempdir(), "swiftk-profile-command"),
]  # fmt: skip


def cumulative(stats: pstats.Stats, suffix: str, name: str) -> float:
    """Cumulative seconds of the function ``name`` defined in a file ending with ``suffix`` (0 if never called).
    Recursive calls count once: cProfile's cumulative time is per outermost call."""
    total = 0.0
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        if func == name and path.replace(os.sep, "/").endswith(suffix):
            total = max(total, ct)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--dump", default="", help="also write the cProfile stats here (pstats' format: callers, ...)")
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    argv = opts.argv[1:] if opts.argv[:1] == ["--"] else opts.argv
    if not argv:
        argv = DEFAULT
        shutil.rmtree(DEFAULT[-1], ignore_errors=True)
    os.environ.update(ENV)
    start = time.perf_counter()
    profile = cProfile.Profile()
    profile.enable()
    from swiftk.cli.builtin import invoke  # the imports are part of the wall, as in a real command

    imported = time.perf_counter() - start
    try:
        code, _ = invoke(argv[0], argv[1:], launch=False)
    finally:
        profile.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profile)
    if opts.dump:
        stats.dump_stats(opts.dump)
    print(f"swiftk {' '.join(argv[:4])} ...: exit {code}, wall {wall:.2f} s (kernel import {imported:.2f} s)")
    train = cumulative(stats, "transformers/trainer.py", "train")
    print("| phase | s | share of wall |")
    print("| --- | ---: | ---: |")
    for phase, functions in PHASES.items():
        seconds = sum(cumulative(stats, suffix, name) for suffix, name in functions)
        if seconds:
            print(f"| {phase} | {seconds:.2f} | {100 * seconds / wall:.0f}% |")
    print(
        f"| everything outside the train loop (imports, loading, trainer set-up, end) | {wall - train:.2f} | "
        f"{100 * (wall - train) / wall:.0f}% |"
    )
    print(f"\nTop {opts.top} functions of the libraries by cumulative time (what the phases above do not name):")
    libraries = ("swiftk", "trl/", "transformers/", "accelerate/", "peft/", "datasets/", "torch/")
    rows = [
        (ct, f"{path.rsplit('site-packages/', 1)[-1]}:{line}({func})", nc)
        for (path, line, func), (_cc, nc, _tt, ct, _callers) in stats.stats.items()
        if any(lib in path for lib in libraries) and "<" not in func
    ]
    for ct, where, calls in sorted(rows, reverse=True)[: opts.top]:
        print(f"{ct:8.2f} s {calls:7d} calls  {where}")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(opts.top)
    print(f"\nTop {opts.top} functions by own time:")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    sys.exit(code)


if __name__ == "__main__":
    main()
