"""The built-in reward functions of ``--reward_funcs`` (ms-swift's ``accuracy``, ``format``, ``cosine``
and ``repetition``).

Every reward follows the one calling convention of the ``rewards`` registry:
``reward(completions, **dataset_columns) -> list[float]``, one float per completion, where a
completion is the assistant's answer as text and each dataset column (``solution``, ...) is a list
aligned with it.  The trainer also passes ``completion_token_ids`` (and, as ms-swift does,
``response_token_ids``).  Classes are instantiated once per run; their ``__init__`` takes any of the
run's arguments by name (``cosine_max_len``, ...), ``args`` for all of them, ``tokenizer``.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_ANSWER = re.compile(r"^<think>.*?</think>\s*<answer>.*?</answer>(?![\s\S])", re.DOTALL | re.MULTILINE)


def _inside_answer_tag(text: str) -> str:
    match = _ANSWER_TAG.search(text)
    return match.group(1).strip() if match else text


class MathAccuracy:
    """1.0 when the completion's answer equals the ``solution`` column mathematically, else 0.0.

    The answer is the text inside ``<answer>…</answer>`` when the completion has one, else the
    whole completion, from which math-verify extracts the final expression (``\\boxed{}``, LaTeX
    or a plain number: ``"3 + 4 = 7."`` answers 7).  Equivalence is math-verify's (``1/2`` equals
    ``0.5`` and ``\\frac{1}{2}``).  A solution math-verify cannot parse scores 0 for every answer.
    """

    def __init__(self) -> None:
        import importlib.util

        if importlib.util.find_spec("math_verify") is None:
            from swiftk.api import UsageError

            raise UsageError("--reward_funcs accuracy needs math-verify: pip install math-verify")

    def __call__(self, completions: list[str], solution: Optional[list[Any]] = None, **columns: Any) -> list[float]:
        if solution is None:
            from swiftk.api import UsageError

            raise UsageError(
                "--reward_funcs accuracy needs a 'solution' column in the dataset (the reference answer of each prompt)"
            )
        from math_verify import parse, verify

        rewards = []
        for completion, reference in zip(completions, solution):
            gold = parse(_inside_answer_tag(str(reference)))
            if not gold:
                rewards.append(0.0)
                continue
            answer = parse(_inside_answer_tag(completion))
            try:
                rewards.append(1.0 if answer and verify(gold, answer) else 0.0)
            except Exception:  # math-verify's own timeouts and sympy failures: not a match
                rewards.append(0.0)
        return rewards


def think_answer_format(completions: list[str], **columns: Any) -> list[float]:
    """1.0 for a completion that is exactly ``<think>…</think>`` then ``<answer>…</answer>``, else 0.0."""
    return [1.0 if _THINK_ANSWER.match(c) else 0.0 for c in completions]


class CosineReward:
    """Accuracy shaped by length (Yeo et al., 2025, arXiv:2502.03373): a correct answer earns between
    ``cosine_min_len_value_correct`` (short) and ``cosine_max_len_value_correct`` (at ``cosine_max_len``
    tokens), a wrong one between ``cosine_min_len_value_wrong`` and ``cosine_max_len_value_wrong``,
    along a half cosine, so short right answers and long wrong ones are preferred."""

    def __init__(
        self,
        cosine_min_len_value_wrong: float = 0.0,
        cosine_max_len_value_wrong: float = -0.5,
        cosine_min_len_value_correct: float = 1.0,
        cosine_max_len_value_correct: float = 0.5,
        cosine_max_len: Optional[int] = None,
        max_completion_length: int = 512,
    ):
        self.wrong = (cosine_min_len_value_wrong, cosine_max_len_value_wrong)
        self.correct = (cosine_min_len_value_correct, cosine_max_len_value_correct)
        self.max_len = int(cosine_max_len or max_completion_length)
        if self.max_len < 1:
            from swiftk.api import UsageError

            raise UsageError(f"--cosine_max_len must be a positive integer, got {self.max_len}")
        self.accuracy = MathAccuracy()

    def value(self, length: int, correct: bool) -> float:
        """The reward of a ``length``-token completion: the short-end value at 0 tokens, the long-end
        value at ``max_len`` tokens and beyond."""
        at_short, at_long = self.correct if correct else self.wrong
        progress = min(length, self.max_len) / self.max_len
        return at_long + (at_short - at_long) * (1 + math.cos(math.pi * progress)) / 2

    def __call__(
        self,
        completions: list[str],
        solution: Optional[list[Any]] = None,
        completion_token_ids: Optional[list[list[int]]] = None,
        **columns: Any,
    ) -> list[float]:
        correct = self.accuracy(completions, solution=solution)
        lengths = (
            [len(ids) for ids in completion_token_ids]
            if completion_token_ids is not None
            else [len(c.split()) for c in completions]
        )
        return [self.value(n, ok >= 1.0) for n, ok in zip(lengths, correct)]


class RepetitionPenalty:
    """Penalises repeated word n-grams (Yeo et al., 2025): ``repetition_max_penalty`` times the share of
    the completion's ``repetition_n_grams``-grams that repeat an earlier one; 0 for completions
    shorter than one n-gram."""

    def __init__(self, repetition_n_grams: int = 3, repetition_max_penalty: float = -1.0):
        from swiftk.api import UsageError

        if repetition_n_grams < 1:
            raise UsageError(f"--repetition_n_grams must be a positive integer, got {repetition_n_grams}")
        if repetition_max_penalty > 0:
            raise UsageError(f"--repetition_max_penalty must be <= 0 (a penalty), got {repetition_max_penalty}")
        self.n = int(repetition_n_grams)
        self.max_penalty = float(repetition_max_penalty)

    def penalty(self, text: str) -> float:
        words = text.lower().split()
        grams = [tuple(words[i : i + self.n]) for i in range(len(words) - self.n + 1)]
        if not grams:
            return 0.0
        repeated = 1 - len(set(grams)) / len(grams)
        return repeated * self.max_penalty

    def __call__(self, completions: list[str], **columns: Any) -> list[float]:
        return [self.penalty(c) for c in completions]
