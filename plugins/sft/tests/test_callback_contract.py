"""swift-plugin-sft's callbacks (logging.jsonl, the loss-curve PNGs) pass the callback contract suite."""

from __future__ import annotations

import json
import os

import pytest

from swiftk.testing.callbacks import CallbackContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestLoggingJsonl(CallbackContract):
    callback = "logging_jsonl"
    arguments = ("--train_type", "full")

    def test_each_step_is_a_line_of_logging_jsonl(self, callback_run):
        with open(os.path.join(callback_run.args.output_dir, "logging.jsonl"), encoding="utf-8") as f:
            rows = [json.loads(line) for line in f]
        assert [r["global_step"] for r in rows if "loss" in r] == [1, 2]


class TestLossCurves(CallbackContract):
    callback = "loss_curves"
    arguments = ("--train_type", "full")
    events = ("on_train_begin", "on_step_end", "on_save", "on_train_end")

    def test_the_loss_curve_is_drawn(self, callback_run):
        assert os.path.isfile(os.path.join(callback_run.args.output_dir, "images", "loss.png"))
