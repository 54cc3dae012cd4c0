"""Preference pairs with images (ms-swift's RLAIF-V form: ``messages`` ending with the chosen answer,
``rejected_response``, ``images``) for a vision-language model's template.

The template expands the images in the prompt and returns the processor's tensors beside the ids
(``pixel_values``, ``image_grid_thw``, ...) and per-token ids (``mm_token_type_ids``). The encoder keeps
them in one ``media`` column (every row of a multimodal template has it, an empty mapping for a text row,
so the encoded dataset's columns never depend on which row came first), and :class:`MediaPreferenceCollator`
puts them into the batch trl's collator makes: chosen rows first, then rejected ones, so each row's
media appear twice, in that order; a text row's per-token ids are zeros.

Families whose template says ``dpo_media`` (their media are flat tensors the model reads in batch order:
the Qwen-VL families) take media here; others drop such rows with the reason.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, Callable, Optional

#: what a template returns that is not the processor's media
TEXT_KEYS = frozenset({"input_ids", "labels", "loss_scale", "length", "attention_mask", "position_ids"})
MEDIA_COLUMN = "media"


def media_of(encoded: dict, prompt_length: int) -> dict:
    """``{"per_token": {key: ids of the prompt}, "tensors": {key: array}}`` of an encoded conversation whose
    first ``prompt_length`` tokens are the prompt; empty for text."""
    per_token: dict[str, list] = {}
    tensors: dict[str, Any] = {}
    length = len(encoded["input_ids"])
    for key, value in encoded.items():
        if key in TEXT_KEYS or value is None:
            continue
        if isinstance(value, list) and len(value) == length:  # per token: the media sit in the prompt
            if any(value[prompt_length:]):
                raise ValueError(f"the answer holds media tokens ({key}); media belong in the prompt")
            per_token[key] = value[:prompt_length]
        else:
            tensors[key] = value.numpy() if hasattr(value, "numpy") else value
    return {"per_token": per_token, "tensors": tensors} if (per_token or tensors) else {}


def pack(media: dict) -> bytes:
    """The ``media`` column's value: bytes in every row (an empty mapping for a text row), so the column's
    type does not depend on which row the encoded dataset's schema was taken from."""
    return pickle.dumps(media, protocol=pickle.HIGHEST_PROTOCOL)


def unpack(blob: Optional[bytes]) -> dict:
    return pickle.loads(blob) if blob else {}


@dataclass
class MediaPreferenceCollator:
    """trl's preference collator for the ids, then each row's media for its chosen and its rejected row."""

    inner: Callable[[list], dict]

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        batch = self.inner([{k: v for k, v in ex.items() if k != MEDIA_COLUMN} for ex in examples])
        width = batch["input_ids"].shape[1]
        media = [unpack(ex.get(MEDIA_COLUMN)) for ex in examples]
        per_token = dict.fromkeys(k for m in media for k in m.get("per_token", {}))
        for key in per_token:  # every row: its prompt's values, zeros over the answer, padding and text rows
            rows = [list(m.get("per_token", {}).get(key) or [])[:width] for m in media]
            rows = [r + [0] * (width - len(r)) for r in rows] * 2
            batch[key] = torch.tensor(rows, dtype=torch.long)
        tensors = dict.fromkeys(k for m in media for k in m.get("tensors", {}))
        for key in tensors:  # the rows with media, in batch order, for the chosen then the rejected rows
            present = [torch.as_tensor(m["tensors"][key]) for m in media if key in m.get("tensors", {})]
            batch[key] = torch.cat(present * 2, dim=0)
        return batch
