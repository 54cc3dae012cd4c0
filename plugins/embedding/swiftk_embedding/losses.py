"""ms-swift's embedding and reranker losses (swift/plugin/loss.py), ``fn(outputs, labels, loss_scale=None,
num_items_in_batch=None)``.

Embedding batches are ``[anchor, positive, negative...]`` per row, normalised vectors in
``outputs["last_hidden_state"]``; ``labels`` has one entry per row for the pair (the row's ``label``, 1 by
default) then a 0 per negative, so the non-zero labels mark where each row starts.  Reranker batches are
one score per (query, document) in ``outputs["logits"]`` [N, 1], ``labels`` 1 for a positive, 0 for a negative,
each group a positive followed by its negatives.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F

from swiftk_embedding.tasks import env_bool, env_number

_MARGIN = 0.5  # ms-swift's (sentence-transformers') contrastive margin


def _vectors(outputs: Any) -> torch.Tensor:
    return outputs["last_hidden_state"]


def _pairs(outputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    vectors = _vectors(outputs)
    return vectors[0::2], vectors[1::2]


def cosine_similarity(outputs, labels, loss_scale=None, num_items_in_batch=None) -> torch.Tensor:
    """MSE between the pair's cosine similarity and the row's ``label``."""
    first, second = _pairs(outputs)
    score = torch.cosine_similarity(first, second)
    return F.mse_loss(score, labels.to(score.dtype).view(-1))


def contrastive(outputs, labels, loss_scale=None, num_items_in_batch=None) -> torch.Tensor:
    """Pulls label-1 pairs together, pushes label-0 pairs beyond the cosine-distance margin."""
    first, second = _pairs(outputs)
    distances = 1 - F.cosine_similarity(first, second)
    labels = labels.to(first.dtype)
    losses = 0.5 * (labels * distances.pow(2) + (1 - labels) * F.relu(_MARGIN - distances).pow(2))
    return losses.mean()


def online_contrastive(outputs, labels, loss_scale=None, num_items_in_batch=None) -> torch.Tensor:
    """The contrastive loss on the hard pairs only (positives farther than the nearest negative, and back)."""
    first, second = _pairs(outputs)
    distances = 1 - F.cosine_similarity(first, second)
    negs, poss = distances[labels == 0], distances[labels == 1]
    negative_pairs = negs[negs < (poss.max() if len(poss) > 1 else negs.mean())]
    positive_pairs = poss[poss > (negs.min() if len(negs) > 1 else poss.mean())]
    return positive_pairs.pow(2).sum() + F.relu(_MARGIN - negative_pairs).pow(2).sum()


def split_rows(vectors: torch.Tensor, labels: torch.Tensor, hard_negatives: Optional[int] = None) -> list:
    """Each row's ``[anchor, positive, negatives...]``; with ``INFONCE_HARD_NEGATIVES`` n, n negatives per row
    (the first n, or drawn again at random from the row's own when it has fewer)."""
    starts = torch.nonzero(labels, as_tuple=False).view(-1).tolist()
    bounds = [s + i for i, s in enumerate(starts)] + [len(labels) + len(starts)]
    rows = []
    for start, end in zip(bounds, bounds[1:]):
        part = vectors[start:end]
        if hard_negatives is not None:
            negatives = len(part) - 2
            if negatives > hard_negatives:
                part = part[: hard_negatives + 2]
            elif 0 < negatives < hard_negatives:
                extra = torch.randint(0, negatives, (hard_negatives - negatives,)) + 2
                part = torch.cat((part, part[extra]), dim=0)
        rows.append(part)
    return rows


def _across_ranks(vectors: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Under data parallelism every rank's rows are in-batch negatives, as in ms-swift: the other ranks' vectors
    are gathered without gradient, this rank's keep theirs."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return vectors, labels
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (vectors.detach().cpu(), labels.detach().cpu()))
    rank = dist.get_rank()
    all_vectors = [vectors if i == rank else v.to(vectors.device) for i, (v, _) in enumerate(parts)]
    return torch.cat(all_vectors), torch.cat([lab.to(labels.device) for _, lab in parts])


def infonce(outputs, labels, loss_scale=None, num_items_in_batch=None) -> torch.Tensor:
    """Cross entropy of each anchor over its positive against negatives: its own hard negatives and, with
    ``INFONCE_USE_BATCH`` (default), every other row's documents; ``INFONCE_*`` as ms-swift reads them."""
    temperature = env_number("INFONCE_TEMPERATURE", 0.1)
    use_batch = env_bool("INFONCE_USE_BATCH", True)
    hard = env_number("INFONCE_HARD_NEGATIVES", None, int)
    mask_fake = env_bool("INFONCE_MASK_FAKE_NEGATIVE", False)
    margin = env_number("INFONCE_FAKE_NEG_MARGIN", 0.1)
    include_qq = env_bool("INFONCE_INCLUDE_QQ", False)
    include_dd = env_bool("INFONCE_INCLUDE_DD", False)
    vectors = _vectors(outputs)
    if use_batch:
        vectors, labels = _across_ranks(vectors, labels)
    rows = split_rows(vectors, labels, hard)
    if not use_batch:  # each anchor against its own documents only
        losses = []
        for row in rows:
            scores = row[0] @ row[1:].T / temperature
            losses.append(F.cross_entropy(scores.unsqueeze(0), torch.zeros(1, dtype=torch.long, device=row.device)))
        return torch.stack(losses).mean()
    docs = torch.cat([row[1:] for row in rows], dim=0)  # every row's positive and negatives
    queries = torch.stack([row[0] for row in rows], dim=0)
    losses, offset = [], 0
    for index, row in enumerate(rows):
        qd = row[0] @ docs.T
        threshold = qd[offset].detach() + margin
        if mask_fake:  # documents scoring above the positive (plus the margin) are likely positives too
            qd = torch.where(qd > threshold, torch.full_like(qd, float("-inf")), qd)
        parts = [qd]
        if include_qq:
            qq = (row[0] @ queries.T).clone()
            qq[index] = float("-inf")
            if mask_fake:
                qq = torch.where(qq > threshold, torch.full_like(qq, float("-inf")), qq)
            parts.append(qq)
        if include_dd:
            dd = (row[1] @ docs.T).clone()
            dd[offset] = float("-inf")
            parts.append(dd)
        scores = torch.cat(parts) / temperature
        target = torch.tensor([offset], device=scores.device)
        losses.append(F.cross_entropy(scores.unsqueeze(0), target))
        offset += len(row) - 1
    return torch.stack(losses).mean()


def reranker(outputs, labels, loss_scale=None, num_items_in_batch=None) -> torch.Tensor:
    """Pointwise: binary cross entropy of each (query, document) score against relevant/irrelevant."""
    logits = outputs["logits"].squeeze(-1).float()
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))


def listwise_reranker(outputs, labels, loss_scale=None, num_items_in_batch=None) -> torch.Tensor:
    """Listwise: cross entropy of each group's positive among its documents (``LISTWISE_RERANKER_TEMPERATURE``,
    groups smaller than ``LISTWISE_RERANKER_MIN_GROUP_SIZE`` skipped)."""
    logits = outputs["logits"].squeeze(-1).float()
    temperature = env_number("LISTWISE_RERANKER_TEMPERATURE", 1.0)
    min_size = env_number("LISTWISE_RERANKER_MIN_GROUP_SIZE", 2, int)
    starts = torch.nonzero(labels == 1, as_tuple=False).view(-1).tolist()
    losses = []
    for start, end in zip(starts, starts[1:] + [len(labels)]):
        if end - start < min_size:
            continue
        group = (logits[start:end] / temperature).unsqueeze(0)
        losses.append(F.cross_entropy(group, torch.zeros(1, dtype=torch.long, device=logits.device)))
    if not losses:
        return logits.sum() * 0.0  # no group to rank in this batch: no gradient, but a graph
    return torch.stack(losses).mean()
