"""``--optimizer kit_sgd`` and the callback ``kit_step_counter`` against their contract suites (each
builds the sft trainer on swiftk/tiny-chat and runs a short ``swiftk sft``, in this process)."""

from __future__ import annotations

import json
import os

import pytest
from swiftk.testing.callbacks import CallbackContract
from swiftk.testing.optimizers import OptimizerContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLUGIN = "swiftk_example_kit.plugin"


class TestKitSGD(OptimizerContract):
    optimizer = "kit_sgd"
    plugins = (PLUGIN,)
    learning_rate = 0.05  # plain SGD needs a larger rate than AdamW to move the loss in 3 steps


class TestKitSGDWithKitBias(OptimizerContract):
    """kit_sgd over the parameters kit_bias leaves trainable (the biases only)."""

    optimizer = "kit_sgd"
    plugins = (PLUGIN,)
    train_arguments = ("--train_type", "kit_bias")
    arguments = ("--kit_warmup_steps", "1", "--kit_momentum", "0.5")
    learning_rate = 0.1


class TestStepCounter(CallbackContract):
    callback = "kit_step_counter"
    plugins = (PLUGIN,)
    arguments = ("--train_type", "kit_bias")
    applies_to = (("--kit_count_steps", "true"),)
    not_applies_to = (("--kit_count_steps", "false"),)

    def test_the_record_counts_the_steps(self, callback_run):
        with open(os.path.join(callback_run.args.output_dir, "kit_step_counter.json"), encoding="utf-8") as f:
            record = json.load(f)
        assert record["steps"] == record["global_step"] == self.max_steps
        assert len(record["learning_rates"]) == self.max_steps
