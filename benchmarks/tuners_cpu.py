"""Every tuner on the same tiny model: seconds per training step and peak RSS, in one table.

    .venv/bin/python benchmarks/tuners_cpu.py [--steps 30] [--repeats 1] [--only lora,reft]

Each configuration trains in its own process (``swiftk sft`` in-process with a timing callback, so the
import of torch is not counted), ``OMP_NUM_THREADS=1``, on swiftk/tiny-chat (0.9M parameters, Qwen2
architecture) with the demo SFT data, batch 4, max_length 128.  seconds/step is the median of the
steps after the first 3; peak RSS is the process's maximum resident set size.  With --repeats > 1 the
configurations are alternated and the minimum of the medians is shown (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CONFIGS = [
    ("full", "full", []),
    ("lora", "lora", []),
    ("lora + dora", "lora", ["--use_dora", "true"]),
    ("lora + rslora", "lora", ["--use_rslora", "true"]),
    ("lora+ (lorap)", "lora", ["--lorap_lr_ratio", "16"]),
    ("lora pissa", "lora", ["--init_weights", "pissa"]),
    ("lora lora-ga", "lora", ["--init_weights", "lora-ga"]),
    ("adalora", "adalora", []),
    ("vera", "vera", []),
    ("boft", "boft", []),
    ("fourierft", "fourierft", []),
    ("adapter", "adapter", []),
    ("longlora", "longlora", []),
    ("llamapro", "llamapro", ["--llamapro_num_new_blocks", "2"]),
    ("reft (LoReFT)", "reft", []),
    ("full + galore", "full", ["--use_galore", "true", "--galore_rank", "16"]),
    (
        "full + q-galore",
        "full",
        ["--use_galore", "true", "--galore_rank", "16", "--galore_quantization", "true", "--galore_proj_quant", "true"],
    ),
    ("full + lisa", "full", ["--lisa_activated_layers", "1", "--lisa_step_interval", "5"]),
]


def run_one(train_type: str, extra: list, steps: int) -> dict:
    """In a child process: train and time the steps."""
    import resource
    import time

    from transformers import TrainerCallback

    import swiftk
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    times: list = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.start)

    class Hooks:
        @swiftk.hookimpl
        def post_trainer_create(self, args, trainer):
            for callback in list(trainer.callback_handler.callbacks):
                if type(callback).__name__ == "PlotCallback":
                    trainer.remove_callback(callback)
            trainer.add_callback(Timer())

    out = tempfile.mkdtemp(prefix="swiftk-bench-")
    argv = [
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft#200",
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
        "--report_to",
        "none",
        "--save_strategy",
        "no",
        "--logging_steps",
        str(steps),
        "--output_dir",
        out,
        "--add_version",
        "false",
        "--gradient_checkpointing",
        "false",
        "--dataloader_num_workers",
        "0",
        *extra,
    ]
    with HostScope(autoload=True) as host:
        host.register_plugin(Hooks(), "bench-timer")
        code, _ = invoke("sft", argv, launch=False)
    assert code == 0
    return {
        "s_per_step": statistics.median(times[3:] or times),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", default="")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # JSON [train_type, *args]: run one configuration here
    opts = parser.parse_args()
    if opts.one is not None:
        one = json.loads(opts.one)
        result = run_one(one[0], one[1:], opts.steps)
        print("RESULT " + json.dumps(result))
        return 0
    wanted = [w.strip() for w in opts.only.split(",") if w.strip()]
    configs = [c for c in CONFIGS if not wanted or c[0] in wanted or c[1] in wanted]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    results: dict = {name: [] for name, _, _ in configs}
    for _ in range(opts.repeats):
        for name, train_type, extra in configs:
            proc = subprocess.run(
                [sys.executable, __file__, "--steps", str(opts.steps), "--one", json.dumps([train_type, *extra])],
                capture_output=True,
                text=True,
                env=env,
            )
            line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
            if proc.returncode != 0 or line is None:
                print(f"{name}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                continue
            results[name].append(json.loads(line[7:]))
    print(f"\nswiftk/tiny-chat, batch 4, max_length 128, {opts.steps} steps, OMP_NUM_THREADS=1\n")
    print(f"| {'tuner':<18} | {'s/step':>7} | {'peak RSS MiB':>12} |")
    print(f"|{'-' * 20}|{'-' * 9}|{'-' * 14}|")
    for name, _, _ in configs:
        runs = results[name]
        if not runs:
            print(f"| {name:<18} | {'failed':>7} | {'':>12} |")
            continue
        step = min(r["s_per_step"] for r in runs)
        rss = min(r["peak_rss_mib"] for r in runs)
        print(f"| {name:<18} | {step:7.4f} | {rss:12.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
