"""Text scores of the ``nlg`` and ``acc`` metrics: ROUGE-L, BLEU-4, exact match.

The training metrics (:mod:`swiftk_sft.metrics`) score decoded ids with them, and the metrics'
``score_texts`` option (``register_metrics``) hands them to ``swiftk infer --metric``, which scores
a dataset's answer texts through the registry.

Pure Python on purpose (no nltk, jieba or rouge packages): CJK text is scored per character,
other text per word.
"""

from __future__ import annotations

import math
import re
from collections import Counter

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
        pred_ngrams = Counter(tuple(prediction[i : i + n]) for i in range(len(prediction) - n + 1))
        ref_ngrams = Counter(tuple(reference[i : i + n]) for i in range(len(reference) - n + 1))
        overlap = sum((pred_ngrams & ref_ngrams).values())
        total = max(sum(pred_ngrams.values()), 0)
        if n == 1 and overlap == 0:
            return 0.0
        log_sum += math.log((overlap + (n > 1)) / (total + (n > 1))) if total + (n > 1) else 0.0
    brevity = 1.0 if len(prediction) > len(reference) else math.exp(1 - len(reference) / len(prediction))
    return brevity * math.exp(log_sum / 4)


def nlg_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """Mean ROUGE-L F1 and BLEU-4 over the pairs: ``{"rouge-l": ..., "bleu-4": ...}``."""
    pairs = [(words(p), words(r)) for p, r in zip(predictions, references)]
    n = max(len(pairs), 1)
    return {"rouge-l": sum(rouge_l(p, r) for p, r in pairs) / n, "bleu-4": sum(bleu4(p, r) for p, r in pairs) / n}


def exact_match(predictions: list[str], references: list[str]) -> float:
    """Share of predictions equal to their reference after stripping whitespace."""
    if not references:
        return 0.0
    return sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)


def exact_match_scores(predictions: list[str], references: list[str]) -> dict[str, float]:
    """The ``acc`` metric on texts: ``{"acc": share of exact matches}``."""
    return {"acc": exact_match(predictions, references)}
