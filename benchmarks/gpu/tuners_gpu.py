"""GPU-only tuner paths: ``--tuner_backend unsloth`` (swift-plugin-unsloth) and ``--use_liger``
(swift-plugin-liger), beside plain peft LoRA on the same model, plus 8-bit Q-GaLore.

Run where a CUDA GPU exists (``python benchmarks/gpu/tuners_gpu.py``); on CPU these options are
one-line errors (plugins/unsloth/tests, plugins/liger/tests).  Each check trains a random tiny Llama
(wide enough for the kernels) for a few steps through ``swiftk sft`` in its own process and prints one
JSON line: seconds per step (median after warm-up), peak GPU memory, and whether the checkpoint
reloads with ``--adapters``.  A check whose package is missing is reported as skipped.  Exit code 1 if
any check failed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

CHECKS = [
    ("peft_lora_bf16", ["--train_type", "lora"], None),
    ("unsloth_lora_bf16", ["--train_type", "lora", "--tuner_backend", "unsloth"], "unsloth"),
    ("liger_lora_bf16", ["--train_type", "lora", "--use_liger", "true"], "liger_kernel"),
    ("liger_full_bf16", ["--train_type", "full", "--use_liger", "true"], "liger_kernel"),
    (
        "qgalore_8bit",
        [
            "--train_type",
            "full",
            "--use_galore",
            "true",
            "--galore_quantization",
            "true",
            "--galore_proj_quant",
            "true",
            "--optim",
            "adamw_bnb_8bit",
            "--galore_rank",
            "16",
        ],
        "q_galore_torch",
    ),
]

_CHILD = r'''
import json, statistics, sys, time
import torch
from transformers import TrainerCallback
import swiftk
from swiftk.cli.builtin import invoke
from swiftk.testing import HostScope

times = []
class Timer(TrainerCallback):
    def on_step_begin(self, *a, **k): self.t = time.perf_counter()
    def on_step_end(self, *a, **k):
        torch.cuda.synchronize(); times.append(time.perf_counter() - self.t)
class Hooks:
    @swiftk.hookimpl
    def post_trainer_create(self, args, trainer): trainer.add_callback(Timer())
with HostScope(autoload=True) as host:
    host.register_plugin(Hooks(), "gpu-bench")
    code, args = invoke("sft", sys.argv[1:], launch=False)
print("RESULT " + json.dumps({"code": code, "s_per_step": statistics.median(times[3:] or times),
                             "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20}))
'''


def main() -> int:
    import torch

    from swiftk.testing.tiny import build_tiny_checkpoint

    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA GPU"}))
        return 0
    work = tempfile.mkdtemp(prefix="swiftk-tuners-gpu-")
    model = build_tiny_checkpoint(
        "llama3_1",
        os.path.join(work, "Llama-3.1-8B-Instruct"),
        hidden_size=256,
        intermediate_size=512,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
    )
    failed = False
    for name, extra, package in CHECKS:
        if package and importlib.util.find_spec(package) is None:
            print(json.dumps({"check": name, "skipped": f"{package} is not installed"}))
            continue
        out = os.path.join(work, name)
        argv = [
            "--model",
            str(model),
            "--dataset",
            "swiftk/demo-sft#64",
            "--split_dataset_ratio",
            "0",
            "--max_steps",
            "12",
            "--per_device_train_batch_size",
            "4",
            "--max_length",
            "128",
            "--torch_dtype",
            "bfloat16",
            "--report_to",
            "none",
            "--add_version",
            "false",
            "--output_dir",
            out,
            *extra,
        ]
        proc = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True)
        line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            failed = True
            print(json.dumps({"check": name, "error": proc.stderr[-1500:]}))
            continue
        result = {"check": name, **json.loads(line[7:])}
        if "--train_type" in extra and extra[extra.index("--train_type") + 1] != "full":
            ckpt = sorted(p for p in os.listdir(out) if p.startswith("checkpoint-"))[-1]
            reload = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys; from swiftk.cli.builtin import resolve_arguments; "
                    "from swiftk.pipelines.model import load_model_and_processor; "
                    "from swiftk.pipelines.export import apply_adapters; "
                    "a = resolve_arguments('infer', ['--adapters', sys.argv[1]]); "
                    "m, _, _ = load_model_and_processor(a); apply_adapters(m, [sys.argv[1]], a)",
                    os.path.join(out, ckpt),
                ],
                capture_output=True,
                text=True,
            )
            result["reloads"] = reload.returncode == 0
            failed |= reload.returncode != 0
        print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
