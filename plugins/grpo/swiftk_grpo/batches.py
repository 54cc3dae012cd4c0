"""Rows of trl's scored generation batches (``_generate_and_score_completions`` outputs), kept and joined:
what ``--dynamic_sample`` needs to build one batch from the groups of several generation rounds."""

from __future__ import annotations

from typing import Any

import torch

#: per-row tensors of a text-only batch; prompts are padded on the left, the rest on the right
_LEFT = ("prompt_ids", "prompt_mask")
_RIGHT = (
    "completion_ids",
    "completion_mask",
    "old_per_token_logps",
    "ref_per_token_logps",
    "sampling_per_token_logps",
    "importance_sampling_ratio",
)
_ROWS = (*_LEFT, *_RIGHT, "advantages")


def unsupported_keys(batch: dict) -> list[str]:
    return sorted(k for k in batch if k not in _ROWS and k != "num_items_in_batch")


def select_rows(batch: dict, rows: torch.Tensor) -> dict:
    """The batch restricted to ``rows`` (a bool mask or indices), ``num_items_in_batch`` left out."""
    return {k: v[rows] for k, v in batch.items() if k in _ROWS and v is not None}


def _pad(t: torch.Tensor, width: int, value: float, left: bool) -> torch.Tensor:
    if t.size(1) == width:
        return t
    pad = t.new_full((t.size(0), width - t.size(1)), value)
    return torch.cat([pad, t] if left else [t, pad], dim=1)


def concat_rows(batches: list[dict], pad_token_id: int) -> dict:
    """Join row-batches whose padded widths differ (prompts left-padded, completions right-padded)."""
    out: dict[str, Any] = {}
    for key in batches[0]:
        parts = [b[key] for b in batches]
        if parts[0].dim() >= 2 and len({p.size(1) for p in parts}) > 1:
            width = max(p.size(1) for p in parts)
            value = pad_token_id if key.endswith("_ids") else (1.0 if key == "importance_sampling_ratio" else 0)
            parts = [_pad(p, width, value, left=key in _LEFT) for p in parts]
        out[key] = torch.cat(parts, dim=0)
    return out
