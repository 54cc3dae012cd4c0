"""The metric contract suite: the tests every ``--metric`` name (ours or a third party's) should pass.

Subclass :class:`MetricContract` in a test module and name the metric; pytest collects the
inherited tests::

    from swiftk.testing.metrics import MetricContract

    class TestExactMatch(MetricContract):
        metric = "exact_match"                     # a registered name
        plugins = ("my_metrics/__init__.py",)      # only if not installed: files or modules to register
        predict_with_generate = True               # the metric reads generated answers (else argmax ids)

What the suite checks, the way the sft trainer builds and calls metrics (no model; a tiny tokenizer):

1. the name is registered;
2. ``factory(args, tokenizer)`` returns ``compute``, and ``compute`` takes ONE
   ``transformers.EvalPrediction`` (as the Trainer calls it, not ``(predictions, references)``);
3. it returns a non-empty ``dict[str, float]`` of finite numbers, for a batch and for one row;
4. the same evaluation gives the same values, whatever padding (-100 or the pad id) the rows carry;
5. ``expected`` (``{key: value}`` for :attr:`answers` against :attr:`references`), when given.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import pytest

__all__ = ["MetricContract"]


class MetricContract:
    """Inherit, set ``metric`` (and ``predict_with_generate``); see the module docstring."""

    metric: str = ""
    plugins: Sequence[str] = ()
    predict_with_generate: bool = False
    arguments: Sequence[str] = ()
    answers: Sequence[str] = ("Paris is the capital of France.", "I am not sure.", "42")
    references: Sequence[str] = ("Paris is the capital of France.", "The answer is 7.", "42")
    expected: Optional[Mapping[str, float]] = None

    @pytest.fixture
    def metric_host(self) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(self.plugins) as host:
            yield host

    @pytest.fixture
    def tokenizer(self) -> Any:
        from swiftk.testing.tiny import build_tiny_tokenizer

        return build_tiny_tokenizer({"eos": "<|endoftext|>", "pad": "<|pad|>"})

    @pytest.fixture
    def compute(self, metric_host: Any, tokenizer: Any) -> Any:
        from swiftk.cli.builtin import resolve_arguments

        flags = ["--predict_with_generate", str(self.predict_with_generate).lower(), *self.arguments]
        args = resolve_arguments("sft", flags)
        factory = metric_host.get("metrics", self.metric)
        compute = factory(args, tokenizer)
        assert callable(compute), f"the factory of metric '{self.metric}' must return compute(eval_prediction)"
        return compute

    def eval_prediction(self, tokenizer: Any, rows: Sequence[int], pad: int = -100) -> Any:
        """What the Trainer hands ``compute_metrics`` for these rows: generated ids (or argmax ids
        aligned with the inputs) and the references' label ids, each padded to one width."""
        import numpy as np
        from transformers import EvalPrediction

        answers = [tokenizer(self.answers[i], add_special_tokens=False)["input_ids"] for i in rows]
        references = [tokenizer(self.references[i], add_special_tokens=False)["input_ids"] for i in rows]
        if not self.predict_with_generate:  # argmax ids: position t predicts label t + 1
            answers = [ids + [0] for ids in answers]
            references = [[-100] + ids for ids in references]
        width = max(len(x) for x in answers + references)
        padded = [ids + [pad] * (width - len(ids)) for ids in answers]
        labels = [ids + [-100] * (width - len(ids)) for ids in references]
        return EvalPrediction(predictions=np.array(padded), label_ids=np.array(labels))

    def run(self, compute: Any, tokenizer: Any, rows: Optional[Sequence[int]] = None, pad: int = -100) -> dict:
        rows = list(range(len(self.answers))) if rows is None else list(rows)
        result = compute(self.eval_prediction(tokenizer, rows, pad))
        assert isinstance(result, dict) and result, f"metric '{self.metric}' must return a non-empty dict"
        for key, value in result.items():
            assert isinstance(key, str), f"metric '{self.metric}': key {key!r} is not a string"
            assert isinstance(value, (int, float)) and math.isfinite(value), (
                f"metric '{self.metric}': {key} = {value!r} is not a finite number"
            )
        return result

    def test_the_name_is_registered(self, metric_host: Any) -> None:
        assert self.metric in metric_host.registry("metrics"), f"'{self.metric}' is not a registered metric"

    def test_one_eval_prediction_gives_finite_numbers(self, compute: Any, tokenizer: Any) -> None:
        assert len(self.answers) == len(self.references) >= 2, "give at least two answers, one reference each"
        self.run(compute, tokenizer)
        self.run(compute, tokenizer, rows=[0])

    def test_padding_and_repeats_do_not_change_the_values(self, compute: Any, tokenizer: Any) -> None:
        first = self.run(compute, tokenizer)
        assert self.run(compute, tokenizer) == pytest.approx(first)
        if self.predict_with_generate and tokenizer.pad_token_id is not None:
            assert self.run(compute, tokenizer, pad=tokenizer.pad_token_id) == pytest.approx(first)

    def test_expected_values(self, compute: Any, tokenizer: Any) -> None:
        if self.expected is None:
            pytest.skip("no expected values given")
        result = self.run(compute, tokenizer)
        for key, value in self.expected.items():
            assert result.get(key) == pytest.approx(value), (key, result)
