"""Evaluation metrics, as ms-swift reports them: what a retrieval model's loss does not show.

* infonce: ``mean_pos`` (anchor-positive similarity), ``mean_neg`` (anchor-negative), ``margin`` (positive minus
  the best negative); negatives are the row's own and, with ``INFONCE_USE_BATCH``, every other row's documents;
* the pair losses: ``pearson_cosine`` and ``spearman_cosine`` of the pairs' cosine against their labels;
* rerankers: ``mrr`` and ``ndcg`` of each query's positive among its documents.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from swiftk_embedding.tasks import env_bool


def _groups(labels: np.ndarray, offset: int) -> list[tuple[int, int]]:
    """(start, end) of each row in the outputs: a non-zero label opens a row (``offset`` extra outputs per row)."""
    starts = [int(i) for i in np.nonzero(labels)[0]]
    bounds = [s + k * offset for k, s in enumerate(starts)] + [len(labels) + len(starts) * offset]
    return list(zip(bounds, bounds[1:]))


def infonce_metrics(vectors: np.ndarray, labels: np.ndarray) -> dict:
    rows = [vectors[a:b] for a, b in _groups(labels, 1)]
    docs = np.concatenate([r[1:] for r in rows])
    pos, neg, margins, offset = [], [], [], 0
    for row in rows:
        scores = docs @ row[0] if env_bool("INFONCE_USE_BATCH", True) else row[1:] @ row[0]
        at = offset if env_bool("INFONCE_USE_BATCH", True) else 0
        others = np.delete(scores, at)
        pos.append(scores[at])
        neg.extend(others.tolist())
        if len(others):
            margins.append(scores[at] - others.max())
        offset += len(row) - 1
    return {
        "margin": float(np.mean(margins)) if margins else 0.0,
        "mean_pos": float(np.mean(pos)),
        "mean_neg": float(np.mean(neg)) if neg else 0.0,
    }


def _ranks(values: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(values)).astype(float)


def pair_metrics(vectors: np.ndarray, labels: np.ndarray) -> dict:
    cosine = (vectors[0::2] * vectors[1::2]).sum(-1)
    labels = labels.astype(float)
    if len(labels) < 2 or labels.std() == 0 or cosine.std() == 0:
        return {"pearson_cosine": 0.0, "spearman_cosine": 0.0}
    return {
        "pearson_cosine": float(np.corrcoef(cosine, labels)[0, 1]),
        "spearman_cosine": float(np.corrcoef(_ranks(cosine), _ranks(labels))[0, 1]),
    }


def reranker_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    scores = scores.reshape(-1)
    mrr, ndcg = [], []
    for start, end in _groups(labels == 1, 0):
        group = scores[start:end]
        if len(group) < 2:
            continue
        rank = int((group > group[0]).sum()) + 1  # the positive is the group's first
        mrr.append(1.0 / rank)
        ndcg.append(1.0 / np.log2(rank + 1))  # one relevant document: its ideal DCG is 1
    return {"mrr": float(np.mean(mrr)) if mrr else 0.0, "ndcg": float(np.mean(ndcg)) if ndcg else 0.0}


def for_run(task: str, loss: str) -> Callable[[Any], dict]:
    """The Trainer's ``compute_metrics`` for this task and loss."""
    if task != "embedding":
        compute = reranker_metrics
    else:
        compute = infonce_metrics if loss == "infonce" else pair_metrics

    def metrics(prediction: Any) -> dict:
        return compute(np.asarray(prediction.predictions, dtype=np.float64), np.asarray(prediction.label_ids))

    return metrics
