"""ms-swift's embedding and reranker rows, encoded and batched.

A row: ``messages`` (the anchor or query), ``positive_messages`` (a list of conversations),
``negative_messages`` (a list, optional), ``label`` (cosine_similarity, contrastive).  Rows in ms-swift's
older pair form, ``messages`` ending with the assistant's answer (a ``query``/``response`` file), read the
answer as the one positive and ``rejected_response`` as one negative.

Encoded: ``sequences`` (token ids of each text in order) and ``labels``:

* embedding: ``[anchor, positive, negatives...]``; labels ``[label or 1, 0 per negative]``;
* reranker: the query followed by each document (``[query + positive..., query + negative...]``); labels 1/0.

The collator puts every row's texts in one padded batch; a reranker row gives ``MAX_POSITIVE_SAMPLES``
positives (1), each followed by ``MAX_NEGATIVE_SAMPLES`` (7) of its negatives, drawn at random as ms-swift does.
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Callable, Optional

from swiftk.api import ORIGIN, UsageError

from swiftk_embedding.tasks import env_number


def _clean(messages: Any) -> list[dict]:
    """Messages as plain dicts without the None fields a column of structs fills in."""
    return [{k: v for k, v in dict(m).items() if v is not None} for m in messages or []]


def texts_of(row: dict, task: str) -> tuple[list[dict], list[list[dict]], list[list[dict]]]:
    """``(anchor, positives, negatives)`` of one row."""
    anchor = _clean(row.get("messages"))
    positives = [_clean(m) for m in row.get("positive_messages") or []]
    negatives = [_clean(m) for m in row.get("negative_messages") or []]
    if not positives and anchor and anchor[-1].get("role") == "assistant" and len(anchor) > 1:
        answer = anchor.pop()
        positives = [[{"role": "user" if task == "embedding" else "assistant", "content": answer["content"]}]]
        rejected = row.get("rejected_response")
        if isinstance(rejected, str) and rejected:
            negatives = [[{"role": "user" if task == "embedding" else "assistant", "content": rejected}]]
    return anchor, positives, negatives


def check_rows(dataset: Any, task: str, loss: str, flag: str = "--dataset") -> None:
    """Refuse, in one line naming the row, data this task and loss cannot train on."""
    if dataset is None or not hasattr(dataset, "__iter__"):
        return
    pairwise = loss in ("cosine_similarity", "contrastive", "online_contrastive")
    for index, row in enumerate(itertools.islice(iter(dataset), 100000)):
        where = f"{flag} {row.get(ORIGIN) or f'row {index}'}"
        anchor, positives, negatives = texts_of(row, task)
        if not anchor:
            raise UsageError(f"{where}: no 'messages' (the anchor/query) in the row")
        if not positives:
            raise UsageError(
                f"{where}: no 'positive_messages'; --task_type {task} needs at least one positive per row "
                f"(a list of conversations), e.g. \"positive_messages\": [[{{\"role\": \"user\", \"content\": ...}}]]"
            )
        if task == "embedding" and len(positives) != 1:
            raise UsageError(f"{where}: {len(positives)} positive_messages; --task_type embedding takes exactly one")
        if pairwise and row.get("label") is None:
            raise UsageError(f"{where}: no 'label'; --loss_type {loss} needs one per row (a similarity, or 0/1)")
        if pairwise and negatives:
            raise UsageError(f"{where}: negative_messages are for --loss_type infonce, not {loss}")
        if task != "embedding" and not negatives and loss.startswith("listwise"):
            raise UsageError(f"{where}: no 'negative_messages'; --loss_type {loss} ranks a positive among negatives")


def encode_ids(template: Any, messages: list[dict]) -> list[int]:
    """Token ids of one text: the whole conversation when it ends with an answer, else its prompt."""
    row = {"messages": messages}
    if messages and messages[-1].get("role") == "assistant":
        return list(template.encode(row)["input_ids"])
    return list(template.encode(row, add_generation_prompt=True)["input_ids"])


def pair(query: list[dict], document: list[dict]) -> list[dict]:
    """A reranker's input: the query, then the document as the answer (its system, if any, comes first)."""
    system = [m for m in document if m.get("role") == "system"]
    turns = [m for m in query if m.get("role") != "system" or not system] if system else list(query)
    doc = [dict(m) for m in document if m.get("role") != "system"]
    if doc and doc[0].get("role") == "user" and turns and turns[-1].get("role") == "user":
        doc[0]["role"] = "assistant"  # a document written as a user turn still answers the query
    return system + turns + doc


def make_encoder(template: Any, args: Any, dataset: Any) -> Callable[[dict], dict]:
    """The trainer spec's ``encode``: checks the rows first, then each row -> ``sequences`` and ``labels``."""
    task, loss = args.task_type, args.loss_type
    check_rows(dataset, task, loss)

    def encode(row: dict) -> dict:
        anchor, positives, negatives = texts_of(row, task)
        if task == "embedding":
            texts = [anchor, positives[0]] + negatives
            first = 1.0 if loss == "infonce" or row.get("label") is None else float(row["label"])
            labels = [first] + [0.0] * len(negatives)
        else:
            texts = [pair(anchor, doc) for doc in positives + negatives]
            labels = [1.0] * len(positives) + [0.0] * len(negatives)
        return {"sequences": [encode_ids(template, t) for t in texts], "labels": labels}

    return encode


def pad(sequences: list[list[int]], pad_id: int, side: str = "right") -> dict:
    import torch

    width = max(len(s) for s in sequences)
    ids, mask = [], []
    for seq in sequences:
        fill = width - len(seq)
        ids.append(([pad_id] * fill + seq) if side == "left" else (seq + [pad_id] * fill))
        mask.append(([0] * fill + [1] * len(seq)) if side == "left" else ([1] * len(seq) + [0] * fill))
    return {"input_ids": torch.tensor(ids, dtype=torch.long), "attention_mask": torch.tensor(mask, dtype=torch.long)}


class Collator:
    """Every row's texts in one batch (see the module docstring)."""

    def __init__(self, task: str, pad_id: int, side: str = "right", rng: Optional[random.Random] = None):
        self.task, self.pad_id, self.side = task, pad_id, side
        self.rng = rng or random.Random()

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        sequences, labels = [], []
        for row in batch:
            seqs, labs = list(row["sequences"]), [float(v) for v in row["labels"]]
            if self.task != "embedding":
                seqs, labs = self._sample(seqs, labs)
            sequences += seqs
            labels += labs
        out = pad(sequences, self.pad_id, self.side)
        out["labels"] = torch.tensor(labels, dtype=torch.float32)
        return out

    def _sample(self, seqs: list, labels: list) -> tuple[list, list]:
        positives = [s for s, v in zip(seqs, labels) if v == 1]
        negatives = [s for s, v in zip(seqs, labels) if v != 1]
        most_pos = env_number("MAX_POSITIVE_SAMPLES", 1, int)
        most_neg = env_number("MAX_NEGATIVE_SAMPLES", 7, int)
        out, labs = [], []
        for positive in self.rng.sample(positives, min(len(positives), most_pos)):
            chosen = self.rng.sample(negatives, min(len(negatives), most_neg))
            out += [positive] + chosen
            labs += [1.0] + [0.0] * len(chosen)
        return out, labs
