"""Padding-free training batches: a batch's samples end to end in one row, none attending to another.

A padded batch costs its longest sample's length times the batch size: on the demo data, 17% of
every linear layer's work is padding. Laid end to end, with ``position_ids`` that restart at 0 for
each sample, the batch has no padding at all, but attention must stay inside each sample.
transformers' sdpa path would build a block-diagonal mask over the whole row and compute all N²
scores of it; :func:`sdpa_segments`, registered with transformers' ``AttentionInterface``, runs
PyTorch's causal ``scaled_dot_product_attention`` once per sample instead, at the boundaries the
collator passes as ``cu_seq_lens_q`` (the varlen convention of flash-attention, which transformers
hands through to attention functions). The per-token losses are those of the padded batch (each
sample's first label is masked; the padded batch never predicts it either); only dropout draws
differ, since the tensors have other shapes.

Used for training batches of text models whose attention goes through ``AttentionInterface`` with
sdpa (the default ``--attn_impl``); evaluation and generation keep padded batches. ``--packing``
rows use the same layout: a batch of packed rows becomes one row, with a segment per sample.
``SWIFTK_PADDING_FREE=0`` turns it off (padded batches, as transformers' and trl's trainers make).
"""

from __future__ import annotations

import os
from typing import Any, Optional

import torch

#: the attention implementation's name in transformers' registries
ATTENTION = "swiftk_sdpa_segments"

#: the encoded fields a padding-free batch carries (anything else, such as images, needs the template's collator)
FIELDS = frozenset({"input_ids", "labels", "loss_scale", "position_ids", "length"})


def row_bounds(position_ids: torch.Tensor) -> list[int]:
    """Segment boundaries of one row: where ``position_ids`` restart at 0, and the row's end."""
    starts = (position_ids == 0).nonzero().flatten().tolist()
    if not starts or starts[0] != 0:
        starts = [0] + starts
    return starts + [int(position_ids.numel())]


def sdpa_segments(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: Optional[torch.Tensor],
    dropout: float = 0.0,
    scaling: Optional[float] = None,
    is_causal: Optional[bool] = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal sdpa per segment of each row; any other call (a mask, a KV cache) is transformers' sdpa."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    segmented = (
        attention_mask is None
        and query.shape[2] == key.shape[2]
        and query.shape[2] > 1
        and getattr(module, "is_causal", True)
        and kwargs.get("softcap") is None
    )
    bounds = None
    if segmented:
        cu = kwargs.get("cu_seq_lens_q")
        positions = kwargs.get("position_ids")
        if cu is not None and query.shape[0] == 1:
            bounds = [cu.tolist()]
        elif positions is not None and positions.shape[-1] == query.shape[2]:
            positions = positions.expand(query.shape[0], -1)
            bounds = [row_bounds(row) for row in positions]
    if bounds is None or all(len(b) == 2 for b in bounds):  # no segments: plain causal attention
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    gqa = query.shape[1] != key.shape[1]
    rows = []
    for b, row in enumerate(bounds):
        parts = [
            torch.nn.functional.scaled_dot_product_attention(
                query[b : b + 1, :, s:e],
                key[b : b + 1, :, s:e],
                value[b : b + 1, :, s:e],
                dropout_p=dropout,
                is_causal=True,
                scale=scaling,
                enable_gqa=gqa,
            )
            for s, e in zip(row[:-1], row[1:])
            if e > s
        ]
        rows.append(torch.cat(parts, dim=2))
    out = rows[0] if len(rows) == 1 else torch.cat(rows, dim=0)
    return out.transpose(1, 2).contiguous(), None


def segments_mask(**kwargs: Any) -> Optional[torch.Tensor]:
    """No mask for an unpadded, uncached forward (the attention function keeps to each segment); else sdpa's."""
    from transformers.masking_utils import sdpa_mask

    if (
        kwargs.get("attention_mask") is None
        and kwargs.get("q_length") == kwargs.get("kv_length")
        and not kwargs.get("q_offset")
        and not kwargs.get("kv_offset")
    ):
        return None
    return sdpa_mask(**kwargs)


def register_attention() -> None:
    """Add :func:`sdpa_segments` and its mask function to transformers' registries (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION, sdpa_segments)
    AttentionMaskInterface.register(ATTENTION, segments_mask)


def why_not(model: Any, swift_args: Any, dataset: Any) -> Optional[str]:
    """Why this run's training batches stay padded, or None when they can be padding-free."""
    if os.environ.get("SWIFTK_PADDING_FREE", "1") == "0":
        return "SWIFTK_PADDING_FREE=0"
    if (swift_args.get("task_type") or "causal_lm") != "causal_lm":
        return f"--task_type {swift_args.get('task_type')}"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    if config is None or not getattr(base, "_supports_attention_backend", False):
        return f"{type(base).__name__} does not dispatch attention through transformers' AttentionInterface"
    if getattr(config, "_attn_implementation", None) not in ("sdpa", ATTENTION):
        return f"attention implementation {getattr(config, '_attn_implementation', None)} (padding-free needs sdpa)"
    kinds = set(getattr(config, "layer_types", None) or ())
    if kinds - {"full_attention", "sliding_attention"}:  # convolutions, recurrences: they would run across samples
        return f"layers of type {', '.join(sorted(kinds - {'full_attention', 'sliding_attention'}))}"
    window, max_length = getattr(config, "sliding_window", None), swift_args.get("max_length")
    windowed = "sliding_attention" in kinds if kinds else getattr(config, "use_sliding_window", True) is not False
    if window and windowed and (not max_length or window < max_length):
        return f"sliding-window attention of {window} tokens, shorter than --max_length"
    columns = getattr(dataset, "column_names", None)
    if columns is None or not set(columns) <= FIELDS:
        return "the encoded rows carry more than tokens and labels" if columns else "the rows are encoded lazily"
    return None


def enable(model: Any) -> None:
    """Switch the model's attention to :func:`sdpa_segments` (same results as sdpa wherever batches are padded)."""
    register_attention()
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.set_attn_implementation(ATTENTION)


class FlatCollator:
    """A batch of encoded rows (or packed rows) as one row, with position_ids and segment boundaries."""

    def __call__(self, batch: list[dict]) -> dict:
        from swiftk_sft.packing import concat_bin

        if any(row.get("position_ids") is not None for row in batch):
            row = _join_packed(batch)  # packed rows: a segment per sample already, first labels masked
        else:
            # as packing lays samples out: the padded batch never predicts a sample's first token (the shift
            # drops it); here the previous sample's last token would, so it is masked
            row = concat_bin(batch)
        position_ids = torch.tensor([row["position_ids"]], dtype=torch.long)
        out = {
            "input_ids": torch.tensor([row["input_ids"]], dtype=torch.long),
            "labels": torch.tensor([row["labels"]], dtype=torch.long),
            "position_ids": position_ids,
            "cu_seq_lens_q": torch.tensor(row_bounds(position_ids[0]), dtype=torch.int32),
        }
        if row.get("loss_scale") is not None:
            out["loss_scale"] = torch.tensor([row["loss_scale"]], dtype=torch.float)
        return out


def _join_packed(rows: list[dict]) -> dict:
    """Packed rows end to end (their loss scales, where any row has them, default 1)."""
    out: dict[str, list] = {"input_ids": [], "labels": [], "position_ids": []}
    if any(r.get("loss_scale") is not None for r in rows):
        out["loss_scale"] = []
    for r in rows:
        for key in ("input_ids", "labels", "position_ids"):
            out[key] += r[key]
        if "loss_scale" in out:
            out["loss_scale"] += r.get("loss_scale") or [1.0] * len(r["input_ids"])
    return out
