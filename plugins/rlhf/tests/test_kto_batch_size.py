"""KTO and the page's default `per_device_train_batch_size` 1: its KL term pairs each prompt with
another row's completion of the same batch, so kto trains with 2 unless the user gave a size."""

from __future__ import annotations

import json

import pytest

import rlhf_helpers as h

ARGS = [
    "rlhf",
    "--rlhf_type",
    "kto",
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-kto#8",
    "--train_type",
    "lora",
    "--split_dataset_ratio",
    "0",
    "--max_length",
    "128",
    "--max_steps",
    "1",
    "--gradient_checkpointing",
    "false",
    "--dataloader_num_workers",
    "0",
    "--add_version",
    "false",
    "--report_to",
    "none",
]


@pytest.mark.slow
def test_kto_with_the_default_batch_size_trains_with_two_and_says_so(tmp_path):
    out = tmp_path / "kto"
    proc = h.cli(*ARGS, "--output_dir", str(out))
    said = [line for line in proc.stderr.splitlines() if "per_device_train_batch_size 2" in line]
    assert len(said) == 1 and "kto" in said[0], proc.stderr[-2000:]
    assert json.loads((out / "args.json").read_text())["per_device_train_batch_size"] == 2
    assert (out / "checkpoint-1" / "adapter_model.safetensors").is_file()


def test_an_explicit_batch_size_of_one_is_a_one_line_error(tmp_path):
    proc = h.cli(*ARGS, "--per_device_train_batch_size", "1", "--output_dir", str(tmp_path / "kto"), check=False)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert "--per_device_train_batch_size must be at least 2 for --rlhf_type kto" in errors[0]
    assert "Traceback" not in proc.stderr
