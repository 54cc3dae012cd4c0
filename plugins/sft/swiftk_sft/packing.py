"""Padding-free packing (``--packing true``): several samples per row, none attending to another.

Samples are grouped first-fit-decreasing into rows of at most ``max_length`` tokens; each row
carries ``position_ids`` that restart at 0 for every sample and no attention mask, from which
transformers builds a block-diagonal causal mask (its packed-sequence detection), so a packed
batch computes exactly the per-sample losses of the samples run one by one.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

from swiftk.api import UsageError

_FIELDS = ("input_ids", "labels", "loss_scale")


def pack_rows(rows: Iterable[dict], max_length: int) -> list[list[dict]]:
    """Group encoded rows into bins of total length ≤ max_length (first fit, longest first)."""
    items = sorted(rows, key=lambda r: len(r["input_ids"]), reverse=True)
    bins: list[list[dict]] = []
    room: list[int] = []
    for row in items:
        n = len(row["input_ids"])
        if n > max_length:
            raise UsageError(f"--packing: a sample of {n} tokens is longer than --max_length {max_length}")
        for i, free in enumerate(room):
            if n <= free:
                bins[i].append(row)
                room[i] -= n
                break
        else:
            bins.append([row])
            room.append(max_length - n)
    return bins


def concat_bin(samples: list[dict]) -> dict:
    """One packed row: the samples' fields concatenated, position_ids restarting per sample."""
    out: dict[str, list] = {"input_ids": [], "labels": [], "position_ids": []}
    with_scale = any(s.get("loss_scale") is not None for s in samples)
    if with_scale:
        out["loss_scale"] = []
    for s in samples:
        n = len(s["input_ids"])
        out["input_ids"] += list(s["input_ids"])
        # a sample's first label is never predicted when it runs alone (the shift drops it); packed, the
        # previous sample's last token would predict it, so it is masked to keep the losses identical
        out["labels"] += [-100] + list(s["labels"])[1:]
        out["position_ids"] += list(range(n))
        if with_scale:
            out["loss_scale"] += list(s.get("loss_scale") or [1.0] * n)
    out["length"] = len(out["input_ids"])
    return out


def pack_dataset(dataset: Any, max_length: Optional[int]):
    """A ``datasets.Dataset`` of packed rows from an encoded (not lazy) dataset."""
    import datasets

    if not max_length:
        raise UsageError("--packing needs --max_length (the length of a packed row)")
    if isinstance(dataset, datasets.IterableDataset) or not hasattr(dataset, "__len__"):
        raise UsageError(
            "--packing needs the dataset tokenized up front: set --streaming false and --lazy_tokenize false"
        )
    media = sorted(set(dataset.column_names) - set(_FIELDS) - {"length", "position_ids"})
    if media:  # a vision/audio model's rows: their media tensors cannot be packed with the ids
        raise UsageError(
            f"--packing: the encoded rows carry media ({', '.join(media)}), which are not packed here; "
            "remove --packing (multimodal rows train padded)"
        )
    columns = [c for c in _FIELDS if c in dataset.column_names]
    rows = dataset.select_columns(columns).to_list()
    packed = [concat_bin(b) for b in pack_rows(rows, max_length)]
    return datasets.Dataset.from_list(packed)


class PackedCollator:
    """Pad packed rows to the longest in the batch; padding forms its own dummy sequence."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        longest = max(len(r["input_ids"]) for r in batch)
        out: dict[str, list] = {"input_ids": [], "labels": [], "position_ids": []}
        with_scale = any("loss_scale" in r and r["loss_scale"] is not None for r in batch)
        if with_scale:
            out["loss_scale"] = []
        for r in batch:
            pad = longest - len(r["input_ids"])
            out["input_ids"].append(list(r["input_ids"]) + [self.pad_token_id] * pad)
            out["labels"].append(list(r["labels"]) + [-100] * pad)
            out["position_ids"].append(list(r["position_ids"]) + list(range(pad)))
            if with_scale:
                out["loss_scale"].append(list(r.get("loss_scale") or [1.0] * len(r["input_ids"])) + [0.0] * pad)
        tensors = {k: torch.tensor(v, dtype=torch.float32 if k == "loss_scale" else torch.long) for k, v in out.items()}
        return tensors
