"""Our arguments → transformers' TrainingArguments: the translations that need the run's context."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Optional

import pytest

from swiftk.errors import UsageError

pytest.importorskip("transformers")


def _training_args(tmp_path, *argv, cls=None):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.train_args import to_training_arguments

    args = resolve_arguments("sft", ["--model", "m", "--output_dir", str(tmp_path), *argv])
    return to_training_arguments(args, cls, has_eval=False)


@dataclasses.dataclass
class FieldsUnderTest:
    """Some TrainingArguments fields, without the distributed set-up a real TrainingArguments starts."""

    output_dir: str = ""
    ddp_backend: Optional[str] = None
    use_cpu: bool = False
    neftune_noise_alpha: Optional[float] = None


def test_torchrun_on_cpu_gets_gloo_and_use_cpu(tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA machine: nccl, not use_cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    made = _training_args(tmp_path, cls=FieldsUnderTest)
    assert (made.ddp_backend, made.use_cpu) == ("gloo", True)
    monkeypatch.setenv("WORLD_SIZE", "1")
    made = _training_args(tmp_path, "--ddp_backend", "gloo", cls=FieldsUnderTest)
    assert (made.ddp_backend, made.use_cpu) == (None, False)  # one process: plain training


def test_deepspeed_preset_or_a_clear_error(tmp_path):
    if importlib.util.find_spec("deepspeed") is None:
        with pytest.raises(UsageError, match="--deepspeed zero2 needs the deepspeed package.*pip install deepspeed"):
            _training_args(tmp_path, "--deepspeed", "zero2")
    else:
        from swiftk.pipelines.train_args import deepspeed_config

        assert deepspeed_config("zero2")["zero_optimization"]["stage"] == 2


def test_neftune_is_off_at_the_page_default_and_on_when_given(tmp_path):
    assert _training_args(tmp_path, cls=FieldsUnderTest).neftune_noise_alpha is None  # 0: transformers would hook it
    assert _training_args(tmp_path, "--neftune_noise_alpha", "5", cls=FieldsUnderTest).neftune_noise_alpha == 5
