"""GRPO on a GPU: rollouts by the pt engine, vLLM colocated with training (``--use_vllm true``), and a
``swiftk rollout`` server (``--vllm_mode server``: trl's server mode, weights over vLLM's NCCL engine).

    python benchmarks/gpu/grpo_vllm.py [--model swiftk/tiny-chat] [--steps 10] [--backends pt,vllm,server]
        [--batch 32] [--max-completion-length 128]

The server backend needs two GPUs (NCCL puts the trainer and the server's worker on different devices): the server
runs on the second (``CUDA_VISIBLE_DEVICES=1``), training on the first.

Each backend runs ``swiftk rlhf --rlhf_type grpo`` in its own process (LoRA, the accuracy reward on
swiftk/demo-grpo-sums, groups of 8) and reports, from logging.jsonl: seconds per step between the
first and the last logged step, rollout tokens/s where our engine measures it (pt), the mean reward
of the first and the last half, and the whole command's wall time.  A backend whose package is
missing (vllm) is reported and skipped.  Needs a CUDA GPU, torch with CUDA, trl and (for vllm) vllm;
nothing is downloaded: --model is a local folder or the demo model.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(backend: str, opts: argparse.Namespace, out: str) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "swiftk",
        "rlhf",
        "--rlhf_type",
        "grpo",
        "--model",
        opts.model,
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--split_dataset_ratio",
        "0",
        "--reward_funcs",
        "accuracy",
        "--num_generations",
        "8",
        "--per_device_train_batch_size",
        str(opts.batch),
        "--max_completion_length",
        str(opts.max_completion_length),
        "--max_steps",
        str(opts.steps),
        "--learning_rate",
        "1e-3",
        "--logging_steps",
        "1",
        "--save_steps",
        str(opts.steps),
        "--report_to",
        "none",
        "--add_version",
        "false",
        "--output_dir",
        out,
    ]
    if backend == "vllm":
        cmd += ["--use_vllm", "true", "--vllm_gpu_memory_utilization", "0.3", "--vllm_max_model_len", "1024"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1"}
    server = None
    if backend == "server":
        port = 8011
        server = subprocess.Popen(
            [sys.executable, "-m", "swiftk", "rollout", "--model", opts.model, "--host", "127.0.0.1", "--port",
             str(port), "--vllm_gpu_memory_utilization", "0.5", "--vllm_max_model_len", "1024"],
            env={**env, "CUDA_VISIBLE_DEVICES": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        cmd += ["--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_host", "127.0.0.1"]
        cmd += ["--vllm_server_port", str(port), "--vllm_server_timeout", "600"]
        env["CUDA_VISIBLE_DEVICES"] = "0"
    start = time.time()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait(60)
    wall = time.time() - start
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    rows = [json.loads(line) for line in open(os.path.join(out, "logging.jsonl"))]
    rows = [r for r in rows if "reward" in r and "elapsed_s" in r and "train_runtime" not in r]
    first, last = rows[0], rows[-1]
    half = max(1, len(rows) // 2)
    tokens = [r["rollout/tokens_per_s"] for r in rows[1:] if "rollout/tokens_per_s" in r]
    return {
        "s_per_step": (last["elapsed_s"] - first["elapsed_s"]) / max(1, last["global_step"] - first["global_step"]),
        "tokens_per_s": statistics.mean(tokens) if tokens else None,
        "reward_first": statistics.mean(r["reward"] for r in rows[:half]),
        "reward_last": statistics.mean(r["reward"] for r in rows[-half:]),
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="swiftk/tiny-chat")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--backends", default="pt,vllm,server")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--max-completion-length", type=int, default=128)
    opts = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("benchmarks/gpu/grpo_vllm.py needs a CUDA GPU")
    print(f"GPU: {torch.cuda.get_device_name(0)}; model {opts.model}; {opts.steps} steps of {opts.batch} completions")
    print("| rollouts | s/step | rollout tokens/s | mean reward first half | last half | wall s |")
    print("|---|---|---|---|---|---|")
    for backend in [b for b in opts.backends.split(",") if b]:
        if backend in ("vllm", "server") and importlib.util.find_spec("vllm") is None:
            print(f"| {backend} | skipped: vllm is not installed | | | | |")
            continue
        if backend == "server" and torch.cuda.device_count() < 2:
            print(f"| {backend} | skipped: needs two GPUs (the server on the second) | | | | |")
            continue
        with tempfile.TemporaryDirectory(prefix=f"grpo-{backend}-") as out:
            r = run(backend, opts, out)
        if "error" in r:
            print(f"| {backend} | failed: {r['error']} | | | | |")
            continue
        tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] is not None else "(trl's vLLM)"
        print(
            f"| {backend} | {r['s_per_step']:.3f} | {tps} | {r['reward_first']:.3f} | {r['reward_last']:.3f} | "
            f"{r['wall']:.1f} |"
        )


if __name__ == "__main__":
    main()
