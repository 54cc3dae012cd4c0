"""``--train_type kit_bias`` against the tuner contract suite: 20 steps of ``swiftk sft`` on
swiftk/tiny-chat, the printed count against the formula, reload in a fresh process, merge."""

from __future__ import annotations

import pytest
from swiftk.testing.tuners import TunerContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestKitBias(TunerContract):
    train_type = "kit_bias"
    plugins = ("swiftk_example_kit.plugin",)
    learning_rate = 1e-2  # biases alone move the loss slowly

    def expected_trainable_params(self, model, args):
        # BitFit: every bias vector (tiny-chat, a Qwen2 model, has them in q_proj, k_proj and v_proj)
        return sum(p.numel() for name, p in model.named_parameters() if name.endswith(".bias"))


class TestKitBiasWithNorms(TunerContract):
    train_type = "kit_bias"
    plugins = ("swiftk_example_kit.plugin",)
    extra_args = ("--kit_bias_norms", "true")
    learning_rate = 1e-2
    max_steps = 10

    def expected_trainable_params(self, model, args):
        return sum(p.numel() for name, p in model.named_parameters() if name.endswith(".bias") or "norm" in name)
