"""The ``acc`` and ``nlg`` metrics (``--metric``), each a factory ``(args, tokenizer) -> compute_metrics``."""

from __future__ import annotations

from typing import Any

import numpy as np

from swiftk_sft.scoring import nlg_scores


def token_accuracy(preds: np.ndarray, labels: np.ndarray, strategy: str = "token") -> float:
    """Share of labelled next tokens predicted right (``token``), or of samples entirely right (``seq``).

    ``preds`` are argmax ids aligned with the inputs, so position i predicts label i+1.
    """
    if labels.ndim == 1:  # a classifier: one class per sample
        return float((preds == labels).mean()) if len(labels) else 0.0
    preds, labels = preds[:, :-1], labels[:, 1:]
    mask = labels != -100
    correct = (preds == labels) & mask
    if strategy == "seq":
        has = mask.any(axis=1)
        ok = (correct.sum(axis=1) == mask.sum(axis=1)) & has
        return float(ok.sum() / max(has.sum(), 1))
    return float(correct.sum() / max(mask.sum(), 1))


def acc_metric(args: Any = None, tokenizer: Any = None):
    strategy = (args.get("acc_strategy") if args is not None else None) or "token"

    def compute(eval_prediction) -> dict[str, float]:
        preds, labels = eval_prediction.predictions, eval_prediction.label_ids
        if isinstance(preds, tuple):
            preds = preds[0]
        return {"acc": token_accuracy(np.asarray(preds), np.asarray(labels), strategy)}

    return compute


def nlg_metric(args: Any = None, tokenizer: Any = None):
    if tokenizer is None:
        raise ValueError("the nlg metric needs the tokenizer to decode predictions")

    def decode(rows) -> list[str]:
        out = []
        for row in np.asarray(rows):
            ids = [int(t) for t in row if t >= 0 and t != tokenizer.pad_token_id]
            out.append(tokenizer.decode(ids, skip_special_tokens=True).strip())
        return out

    def compute(eval_prediction) -> dict[str, float]:
        preds = eval_prediction.predictions
        if isinstance(preds, tuple):
            preds = preds[0]
        return nlg_scores(decode(preds), decode(eval_prediction.label_ids))

    return compute
