"""The tuner contract suite (swiftk.testing.tuners) for every tuner of swift-plugin-peft."""
from __future__ import annotations

import pytest

from peft_formulas import lora_params
from swiftk.testing.tuners import TunerContract


class TestLora(TunerContract):
    train_type = "lora"
    extra_args = ("--lora_rank", "4", "--lora_alpha", "8", "--lora_dropout", "0.0")
    learning_rate = 5e-3

    def expected_trainable_params(self, model, args):
        return lora_params(model, 4)
