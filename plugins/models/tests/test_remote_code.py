"""--trust_remote_code: a model folder's own code runs as ms-swift runs it (True), is announced when the
folder came from a saved run rather than the command line, and is refused with --trust_remote_code false."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from swiftk.testing.tiny import build_tiny_checkpoint


def swiftk(*args, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


ANNOUNCED = "running the model's own Python code (configuration_tiny_remote.py, modeling_tiny_remote.py) from"


@pytest.fixture(scope="module")
def remote_run(tmp_path_factory):
    """A tiny InternLM2 stand-in (remote code through auto_map) and a LoRA run on it."""
    root = tmp_path_factory.mktemp("remote")
    base = build_tiny_checkpoint("internlm2", root / "base")
    out = root / "run"
    trained = swiftk(
        "sft",
        "--model",
        str(base),
        "--dataset",
        "swiftk/demo-sft#4",
        "--split_dataset_ratio",
        "0",
        "--train_type",
        "lora",
        "--max_steps",
        "1",
        "--save_steps",
        "1",
        "--report_to",
        "none",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert ANNOUNCED not in trained.stderr  # the user named this folder
    return base, out / "checkpoint-1", root


@pytest.mark.slow
def test_code_from_a_folder_named_by_a_saved_run_is_announced(remote_run, tmp_path):
    base, ckpt, _ = remote_run
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hello"}]}) + "\n")
    ran = swiftk(
        "infer",
        "--adapters",
        str(ckpt),
        "--val_dataset",
        str(data),
        "--max_new_tokens",
        "3",
        "--result_path",
        str(tmp_path / "r.jsonl"),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert f"{ANNOUNCED} {base}, a folder not named on the command line" in ran.stderr
    named = swiftk(
        "infer",
        "--model",
        str(base),
        "--adapters",
        str(ckpt),
        "--val_dataset",
        str(data),
        "--max_new_tokens",
        "3",
        "--result_path",
        str(tmp_path / "r2.jsonl"),
    )
    assert named.returncode == 0, named.stderr[-3000:]
    assert ANNOUNCED not in named.stderr


@pytest.mark.slow
def test_trust_remote_code_false_refuses_it(remote_run):
    base, ckpt, _ = remote_run
    refused = swiftk("infer", "--adapters", str(ckpt), "--trust_remote_code", "false")
    assert refused.returncode == 2
    lines = [l for l in refused.stderr.splitlines() if l.startswith("swiftk: error:")]
    assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert f"--model {base}: loading it runs the folder's own Python code" in lines[0]
    assert "--trust_remote_code false refuses" in lines[0]


def test_plain_folders_load_with_trust_remote_code_false(tmp_path):
    folder = build_tiny_checkpoint("qwen2", tmp_path / "plain")
    shown = swiftk("infer", "--model", str(folder), "--trust_remote_code", "false", "--print_args")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["trust_remote_code"] is False
