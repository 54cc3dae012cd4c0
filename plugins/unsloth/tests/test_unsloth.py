"""--tuner_backend unsloth: a clear error without a GPU; LoRA training with one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft#8",
    "--split_dataset_ratio",
    "0",
    "--max_steps",
    "2",
    "--per_device_train_batch_size",
    "2",
    "--max_length",
    "64",
    "--report_to",
    "none",
    "--add_version",
    "false",
]


def _swiftk(*args):
    return subprocess.run([sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=ENV, timeout=600)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_on_cpu_it_is_a_one_line_error(tmp_path):
    result = _swiftk(
        "sft", *COMMON, "--tuner_backend", "unsloth", "--train_type", "lora", "--output_dir", str(tmp_path / "out")
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert errors and "--tuner_backend unsloth needs a CUDA GPU" in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_other_train_types_are_refused():
    import types

    from swiftk.errors import UsageError
    from swiftk_unsloth.tuner import check_available

    args = types.SimpleNamespace(get=lambda k, d=None: {"train_type": "boft"}.get(k, d))
    with pytest.raises(UsageError, match="supports --train_type lora, not boft"):
        check_available(args)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="unsloth needs a CUDA GPU")
def test_lora_with_unsloth_trains_and_saves_a_peft_adapter(tmp_path):
    pytest.importorskip("unsloth")
    out = tmp_path / "out"
    result = _swiftk(
        "sft",
        *COMMON,
        "--tuner_backend",
        "unsloth",
        "--train_type",
        "lora",
        "--torch_dtype",
        "bfloat16",
        "--output_dir",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(out.glob("checkpoint-*/adapter_model.safetensors"))
