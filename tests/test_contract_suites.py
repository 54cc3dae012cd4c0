"""The contract suites catch what they promise: each fails on a broken example and passes on a good one
(run as a third party would, by pytest in a subprocess)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kernel_support import swiftk_env

BROKEN_METRIC_PLUGIN = '''
import swiftk

def two_argument_metric(args=None, tokenizer=None):
    def compute(predictions, references):          # the Trainer passes ONE EvalPrediction
        return {"hits": 0.0}
    return compute

def nan_metric(args=None, tokenizer=None):
    return lambda eval_prediction: {"score": float("nan")}

@swiftk.hookimpl
def register_metrics(register):
    register("two_argument_metric", two_argument_metric)
    register("nan_metric", nan_metric)
'''

BROKEN_LOSS_PLUGIN = '''
import torch.nn.functional as F
import swiftk

def unshifted(outputs, labels, loss_scale=None, num_items_in_batch=None):
    logits = outputs.logits
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100)

def mean_ignoring_items(outputs, labels, loss_scale=None, num_items_in_batch=None):
    logits, target = outputs.logits[:, :-1], labels[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=-100)

@swiftk.hookimpl
def register_losses(register):
    register("unshifted", unshifted)
    register("mean_ignoring_items", mean_ignoring_items)
'''


def run_suite(tmp_path, plugin_code: str, test_code: str) -> tuple[int, str]:
    (tmp_path / "third_party.py").write_text(textwrap.dedent(plugin_code))
    (tmp_path / "test_third_party.py").write_text(
        textwrap.dedent(test_code).replace("PLUGIN", str(tmp_path / "third_party.py"))
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=swiftk_env(),
        cwd=str(tmp_path),
        timeout=600,
    )
    return proc.returncode, proc.stdout


@pytest.mark.slow
def test_metric_suite_fails_on_broken_metrics(tmp_path):
    code, out = run_suite(
        tmp_path,
        BROKEN_METRIC_PLUGIN,
        '''
        from swiftk.testing.metrics import MetricContract

        class TestTwoArguments(MetricContract):
            metric = "two_argument_metric"
            plugins = ("PLUGIN",)

        class TestNan(MetricContract):
            metric = "nan_metric"
            plugins = ("PLUGIN",)

        class TestGood(MetricContract):
            metric = "acc"
    ''',
    )
    assert code == 1, out
    assert "TestTwoArguments::test_one_eval_prediction_gives_finite_numbers" in out
    assert "TestNan::test_one_eval_prediction_gives_finite_numbers" in out and "is not a finite number" in out
    assert "TestGood" not in out.split("short test summary")[-1]


@pytest.mark.slow
def test_loss_suite_fails_on_broken_losses(tmp_path):
    code, out = run_suite(
        tmp_path,
        BROKEN_LOSS_PLUGIN,
        '''
        from swiftk.testing.losses import LossContract

        class TestUnshifted(LossContract):
            loss = "unshifted"
            plugins = ("PLUGIN",)

        class TestMeanIgnoringItems(LossContract):
            loss = "mean_ignoring_items"
            plugins = ("PLUGIN",)

        class TestGood(LossContract):
            loss = "cross_entropy"
    ''',
    )
    assert code == 1, out
    assert "TestUnshifted::test_labels_are_read_unshifted" in out
    assert "TestMeanIgnoringItems::test_num_items_in_batch_divides_a_sum" in out
    assert "TestGood" not in out.split("short test summary")[-1]
