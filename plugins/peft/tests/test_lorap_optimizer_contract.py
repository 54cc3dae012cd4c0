"""``--optimizer lorap`` (LoRA+) passes the optimizer contract suite on a LoRA model."""

from __future__ import annotations

import pytest

from swiftk.testing.optimizers import OptimizerContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestLoraPlus(OptimizerContract):
    optimizer = "lorap"
    arguments = ("--lorap_lr_ratio", "16")
    train_arguments = ("--train_type", "lora")  # the base model is frozen, the adapters train
