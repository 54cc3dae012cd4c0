"""The kit's names that need no model: reward, metric, loss, template and dataset contract suites."""

from __future__ import annotations

import pytest
from swiftk.testing.datasets import DatasetContract
from swiftk.testing.losses import LossContract
from swiftk.testing.metrics import MetricContract
from swiftk.testing.rewards import RewardContract
from swiftk.testing.templates import TemplateContract

PLUGIN = "swiftk_example_kit.plugin"


class TestBrevityReward(RewardContract):
    reward = "kit_brevity"
    plugins = (PLUGIN,)
    arguments = ("--max_completion_length", "10")
    completions = ("one two three", "one", "one two three four five six seven eight nine ten eleven")
    # GRPO passes the completions' token ids; given here, the expected values do not depend on how
    # the suite would make them up
    columns = {"solution": ("7", "7", "7"), "completion_token_ids": ([5, 6, 7], [5], [5] * 12)}
    expected = (0.7, 0.9, 0.0)


class TestLenRatioMetric(MetricContract):
    metric = "kit_len_ratio"
    plugins = (PLUGIN,)


def test_len_ratio_scores_texts():
    from swiftk_example_kit.metrics import len_ratio_texts

    assert len_ratio_texts(["abcd", "ab", ""], ["abcd", "abcde", "x"]) == {
        "len_ratio": pytest.approx((1 + 0.4 + 0) / 3),
        "len_close": pytest.approx(1 / 3),
    }


class TestLenRatioMetricGenerated(MetricContract):
    metric = "kit_len_ratio"
    plugins = (PLUGIN,)
    predict_with_generate = True
    answers = ("four", "a much longer answer", "42")
    references = ("four", "short", "42")
    expected = {"len_ratio": (1 + 20 / 5 + 1) / 3, "len_close": 2 / 3}


class TestSmoothLoss(LossContract):
    loss = "kit_smooth"
    plugins = (PLUGIN,)

    def test_it_is_torch_label_smoothing_after_the_shift(self, loss_fn):
        import torch.nn.functional as F

        logits, labels = self.batch()
        shifted = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), label_smoothing=0.1
        )
        assert float(self.call(loss_fn, logits, labels)) == pytest.approx(float(shifted), rel=1e-12)


class TestKitChatTemplate(TemplateContract):
    template = "kit_chat"
    plugins = (PLUGIN,)


class TestArithDataset(DatasetContract):
    dataset = "kit/arith"
    plugins = (PLUGIN,)

    def test_the_rows_are_right_and_the_add_subset_holds_the_sums(self, dataset_host, full):
        rows = self.rows(full)
        assert len(rows) == 36
        for row in rows:
            question, answer = row["messages"][0]["content"], row["messages"][-1]["content"]
            a, word, b = question[len("What is ") : -1].split()
            left, result = answer.split(" = ")
            assert left == f"{a} {dict(plus='+', minus='-', times='*')[word]} {b}"
            assert int(result) == eval(left)  # noqa: S307 - digits and one operator
        sums, _ = self.load(dataset_host, "kit/arith:add")
        assert 0 < len(sums) < 36
        assert all(" plus " in row["messages"][0]["content"] for row in sums)


class TestArithDatasetForGRPO(DatasetContract):
    """GRPO keeps the extra columns its rewards read: the preprocessing's ``solution``."""

    dataset = "kit/arith"
    plugins = (PLUGIN,)
    kind = "grpo"
    columns = ("solution",)
