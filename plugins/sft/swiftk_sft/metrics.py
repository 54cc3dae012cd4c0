"""The ``acc`` and ``nlg`` metrics (``--metric``), each a factory ``(args, tokenizer) -> compute_metrics``."""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np


def token_accuracy(preds: np.ndarray, labels: np.ndarray, strategy: str = "token") -> float:
    """Share of labelled next tokens predicted right (``token``), or of samples entirely right (``seq``).

    ``preds`` are argmax ids aligned with the inputs, so position i predicts label i+1.
    """
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


_CJK = re.compile(r"[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]")


def words(text: str) -> list[str]:
    """Words for scoring: CJK characters one by one, other text split on whitespace and punctuation."""
    out = []
    for chunk in re.findall(r"[\u4e00-\u9fff\u3040-\u30ff\uac00-\ud7af]|\w+|[^\w\s]", text.lower()):
        out.append(chunk)
    return out


def rouge_l(prediction: list[str], reference: list[str]) -> float:
    """ROUGE-L F1 from the longest common subsequence."""
    if not prediction or not reference:
        return 0.0
    prev = [0] * (len(reference) + 1)
    for p in prediction:
        cur = [0]
        for j, r in enumerate(reference, 1):
            cur.append(prev[j - 1] + 1 if p == r else max(prev[j], cur[-1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(prediction), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def bleu4(prediction: list[str], reference: list[str]) -> float:
    """Sentence BLEU-4 with add-one smoothing of the higher orders and the brevity penalty."""
    if not prediction or not reference:
        return 0.0
    log_sum = 0.0
    for n in range(1, 5):
        pred_ngrams = Counter(tuple(prediction[i:i + n]) for i in range(len(prediction) - n + 1))
        ref_ngrams = Counter(tuple(reference[i:i + n]) for i in range(len(reference) - n + 1))
        overlap = sum((pred_ngrams & ref_ngrams).values())
        total = max(sum(pred_ngrams.values()), 0)
        if n == 1 and overlap == 0:
            return 0.0
        log_sum += math.log((overlap + (n > 1)) / (total + (n > 1))) if total + (n > 1) else 0.0
    brevity = 1.0 if len(prediction) > len(reference) else math.exp(1 - len(reference) / len(prediction))
    return brevity * math.exp(log_sum / 4)


def nlg_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    pairs = [(words(p), words(r)) for p, r in zip(predictions, references)]
    n = max(len(pairs), 1)
    return {"rouge-l": sum(rouge_l(p, r) for p, r in pairs) / n,
            "bleu-4": sum(bleu4(p, r) for p, r in pairs) / n}


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
