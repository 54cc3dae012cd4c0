"""Tokens and keys are never written or printed in clear: args.json, training_args.bin, logs, --print_args."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from swiftk.arguments.commands import COMMANDS
from swiftk.arguments.fields import arg_infos

SECRET = "hf_SeCrEt_4242_do_not_leak"


def files_holding(folder: Path, needle: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_every_token_and_key_argument_is_a_secret():
    secrets = {
        info.name for groups in COMMANDS.values() for group in groups for info in arg_infos(group) if info.is_secret
    }
    assert {"hub_token", "api_key", "swanlab_token"} <= secrets
    assert "vera_projection_prng_key" not in secrets and "max_new_tokens" not in secrets


@pytest.mark.parametrize(
    "command,flag",
    [("sft", "--hub_token"), ("deploy", "--api_key"), ("rlhf", "--hub_token"), ("export", "--hub_token")],
)
def test_print_args_masks_secrets(swiftk, command, flag):
    result = swiftk(command, "--model", "swiftk/tiny-chat", flag, SECRET, "--print_args")
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert json.loads(result.stdout)[flag[2:]] == "***"


@pytest.mark.slow
def test_a_training_run_and_its_export_write_no_secret(swiftk, tmp_path):
    out = tmp_path / "run"
    trained = swiftk(
        "sft",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft#8",
        "--split_dataset_ratio",
        "0",
        "--train_type",
        "lora",
        "--max_steps",
        "1",
        "--save_steps",
        "1",
        "--report_to",
        "tensorboard",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
        "--hub_token",
        SECRET,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert SECRET not in trained.stdout + trained.stderr
    assert (out / "checkpoint-1" / "training_args.bin").is_file()
    assert files_holding(out, SECRET) == []
    saved = json.loads((out / "args.json").read_text())
    assert saved["hub_token"] == "***"

    # the run reruns from its args.json: the masked token is simply not given
    again = swiftk("sft", "--config", str(out / "args.json"), "--print_args")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["hub_token"] is None

    merged = tmp_path / "merged"
    exported = swiftk(
        "export",
        "--adapters",
        str(out / "checkpoint-1"),
        "--merge_lora",
        "true",
        "--output_dir",
        str(merged),
        "--hub_token",
        SECRET,
    )
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert SECRET not in exported.stdout + exported.stderr
    assert (merged / "args.json").is_file() and files_holding(merged, SECRET) == []
