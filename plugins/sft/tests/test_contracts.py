"""swift-plugin-sft's metrics and losses pass the contract suites third parties use."""

from __future__ import annotations

from swiftk.testing.losses import LossContract
from swiftk.testing.metrics import MetricContract


class TestAccMetric(MetricContract):
    metric = "acc"


class TestAccMetricPerSequence(MetricContract):
    metric = "acc"
    arguments = ("--acc_strategy", "seq")
    expected = {"acc": 2 / 3}  # the first and last answers equal their references, the second does not


class TestNlgMetric(MetricContract):
    metric = "nlg"
    predict_with_generate = True


class TestCrossEntropy(LossContract):
    loss = "cross_entropy"


class TestLossScaleCrossEntropy(LossContract):
    loss = "loss_scale"
