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
    """A metric factory (``--metric exact_match --predict_with_generate true``): the share of generated
    answers equal to their reference after stripping.

    The Trainer calls ``compute`` with one ``transformers.EvalPrediction``: ``predictions`` holds the
    generated token ids and ``label_ids`` the references' ids, both padded (with -100 or the pad id).
    """
    if tokenizer is None:
        raise ValueError("exact_match decodes answers and references: it needs the tokenizer")

    def decode(rows) -> list[str]:
        return [
            tokenizer.decode(
                [int(t) for t in row if t >= 0 and t != tokenizer.pad_token_id], skip_special_tokens=True
            ).strip()
            for row in rows
        ]

    def compute(eval_prediction) -> dict[str, float]:
        predictions = eval_prediction.predictions
        if isinstance(predictions, tuple):
            predictions = predictions[0]
        answers, references = decode(predictions), decode(eval_prediction.label_ids)
        if not references:
            return {"exact_match": 0.0}
        return {"exact_match": sum(a == r for a, r in zip(answers, references)) / len(references)}

    return compute


@swiftk.hookimpl
def register_rewards(register):
    register("length_penalty", length_penalty)


@swiftk.hookimpl
def register_metrics(register):
    register("exact_match", exact_match)
