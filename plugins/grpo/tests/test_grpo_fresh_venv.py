"""`pip install swift-kernel swift-plugin-grpo` into an empty venv gives a working GRPO, and nothing else.

The repo's distributions are built as wheels; pip resolves everything else (torch first, from this
machine's CPU build, then transformers, trl, math-verify, ...) as a user's install would.  Then a
contrib reward distribution installed by pip joins the next run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv

import pytest

import grpo_helpers as h

pytestmark = pytest.mark.slow

#: the distributions swift-plugin-grpo declares (directly or through its dependencies)
BROUGHT = {
    "grpo": "swift-plugin-grpo",
    "sft": "swift-plugin-sft",
    "peft": "swift-plugin-peft",
    "models": "swift-plugin-models",
    "datasets": "swift-plugin-datasets",
    "infer": "swift-plugin-infer",
    "rlhf": "swift-plugin-rlhf",  # its reward_model reward serves --reward_model
}


def _run(cmd, timeout=900):
    # the test venv's own environment: nothing of the repo's .venv leaks in
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**env, **h.OFFLINE, "OMP_NUM_THREADS": "1"}
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_kernel_and_grpo_alone_train_grpo_and_take_a_contrib_reward(tmp_path):
    dist = tmp_path / "dist"
    sources = [h.ROOT] + [h.ROOT / "plugins" / name for name in BROUGHT] + [h.CONTRIB / "swiftk-example-reward"]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            *map(str, sources),
        ]
    )

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", "torch==2.13.0"])  # first: the CPU build, before anything pulls CUDA
    _run([py, "-m", "pip", "install", "-q", "--find-links", str(dist), "swift-kernel", "swift-plugin-grpo"])
    swiftk = str(env_dir / "bin" / "swiftk")

    listed = {p["name"]: p["distribution"] for p in json.loads(_run([swiftk, "plugins", "--json"]))}
    assert listed == BROUGHT

    # a local model folder and a local jsonl, nothing from a hub
    model = tmp_path / "tiny-chat"
    shutil.copytree(h.TINY_CHAT, model)
    data = tmp_path / "sums.jsonl"
    shutil.copy(h.SUMS, data)
    flags = [
        "rlhf",
        "--rlhf_type",
        "grpo",
        "--model",
        str(model),
        "--dataset",
        str(data),
        "--split_dataset_ratio",
        "0",
        "--num_generations",
        "4",
        "--per_device_train_batch_size",
        "8",
        "--max_completion_length",
        "16",
        "--max_steps",
        "2",
        "--logging_steps",
        "1",
        "--add_version",
        "false",
        "--report_to",
        "none",
    ]
    out = tmp_path / "run"
    _run([swiftk, *flags, "--reward_funcs", "accuracy", "--output_dir", str(out)])
    assert len(h.train_logs(out)) == 2 and h.last_checkpoint(out).is_dir()

    _run([py, "-m", "pip", "install", "-q", "--find-links", str(dist), "swiftk-example-reward"])
    out = tmp_path / "run-contrib"
    _run([swiftk, *flags, "--reward_funcs", "accuracy", "length_penalty", "--output_dir", str(out)])
    assert all("rewards/length_penalty/mean" in row for row in h.train_logs(out))
