"""The LISA callback passes the callback contract suite: built from the run's arguments, applied only when
``--lisa_activated_layers`` is positive."""

from __future__ import annotations

import pytest

from swiftk.testing.callbacks import CallbackContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestLisaCallback(CallbackContract):
    callback = "lisa"
    arguments = ("--train_type", "full", "--lisa_activated_layers", "1", "--lisa_step_interval", "1")
    applies_to = (("--train_type", "full", "--lisa_activated_layers", "2"),)
    not_applies_to = (("--train_type", "full"), ("--train_type", "full", "--lisa_activated_layers", "0"))
    events = ("on_train_begin", "on_step_begin", "on_step_end", "on_train_end")

    def test_one_block_trains_at_a_time(self, callback_run):
        recorder = callback_run.notes["recorder"]
        model = callback_run.trainer.model
        trainable = [
            i for i, block in enumerate(model.model.layers) if any(p.requires_grad for p in block.parameters())
        ]
        assert trainable == recorder.instances[0].active and len(trainable) == 1
