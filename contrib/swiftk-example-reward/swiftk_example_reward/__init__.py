"""An example third-party plugin, written against docs/plugins.md only.

It registers a reward function (``length_penalty``) usable with ``--reward_funcs`` and a
metric (``exact_match``) usable with ``--metric``.  Nothing heavy is imported here.
"""
from __future__ import annotations

import swiftk


def length_penalty(completions: list[str], target_length: int = 64, **columns) -> list[float]:
    """1.0 for a completion of ``target_length`` characters, falling linearly to 0 at twice that."""
    scores = []
    for text in completions:
        if isinstance(text, list):  # a conversation: score the last message
            text = text[-1]["content"] if text else ""
        distance = abs(len(text) - target_length) / max(target_length, 1)
        scores.append(max(0.0, 1.0 - distance))
    return scores


def exact_match(args=None, tokenizer=None):
    """A metric factory: the share of predictions equal to their reference after stripping."""

    def compute(predictions: list[str], references: list[str]) -> dict[str, float]:
        if not references:
            return {"exact_match": 0.0}
        hits = sum(p.strip() == r.strip() for p, r in zip(predictions, references))
        return {"exact_match": hits / len(references)}

    return compute


@swiftk.hookimpl
def register_rewards(register):
    register("length_penalty", length_penalty)


@swiftk.hookimpl
def register_metrics(register):
    register("exact_match", exact_match)
