"""Preference pairs with images (ms-swift's RLAIF-V form: ``messages`` ending with the chosen answer,
``rejected_response``, ``images``) for a vision-language model's template.

The template expands the images in the prompt and returns the processor's tensors beside the ids
(``pixel_values``, ``image_grid_thw``, ...) and per-token ids (``mm_token_type_ids``). The encoder
keeps them as columns, ``media_<key>`` and ``prompt_<key>`` (per token, cut to the prompt), and
:class:`MediaPreferenceCollator` puts them back into the batch trl's collator makes: chosen rows
first, then rejected ones, so each row's media appear twice, in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

#: what a template returns that is not the processor's media
TEXT_KEYS = frozenset({"input_ids", "labels", "loss_scale", "length", "attention_mask", "position_ids"})
MEDIA_PREFIX = "media_"
PER_TOKEN_PREFIX = "prompt_"
#: the columns trl's DPO collator reads (``prompt_ids`` is one of them, not a per-token media column)
PREFERENCE_COLUMNS = frozenset({"prompt_ids", "chosen_ids", "rejected_ids", "ref_chosen_logps", "ref_rejected_logps"})


def media_of(encoded: dict, prompt_length: int) -> dict:
    """The media columns of an encoded conversation whose first ``prompt_length`` tokens are the prompt."""
    out: dict[str, Any] = {}
    length = len(encoded["input_ids"])
    for key, value in encoded.items():
        if key in TEXT_KEYS or value is None:
            continue
        if isinstance(value, list) and len(value) == length:  # per token: the media sit in the prompt
            if any(value[prompt_length:]):
                raise ValueError(f"the answer holds media tokens ({key}); media belong in the prompt")
            out[PER_TOKEN_PREFIX + key] = value[:prompt_length]
        else:
            out[MEDIA_PREFIX + key] = value.numpy() if hasattr(value, "numpy") else value
    return out


def media_columns(names: set) -> list[str]:
    return sorted(
        n for n in names if n.startswith(MEDIA_PREFIX) or (n.startswith(PER_TOKEN_PREFIX) and n != "prompt_ids")
    )


@dataclass
class MediaPreferenceCollator:
    """trl's preference collator for the ids, then each row's media for its chosen and its rejected row."""

    inner: Callable[[list], dict]
    columns: list

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        batch = self.inner([{k: v for k, v in ex.items() if k not in self.columns} for ex in examples])
        width = batch["input_ids"].shape[1]
        for column in self.columns:
            values = [ex[column] for ex in examples if ex.get(column) is not None]
            if not values:
                continue
            if column.startswith(PER_TOKEN_PREFIX):  # the prompt's values, zeros over the answer and padding
                key = column[len(PER_TOKEN_PREFIX) :]
                rows = [list(v)[:width] + [0] * max(0, width - len(v)) for v in values] * 2
                batch[key] = torch.tensor(rows, dtype=torch.long)
            else:
                key = column[len(MEDIA_PREFIX) :]
                batch[key] = torch.cat([torch.as_tensor(v) for v in values] * 2, dim=0)
        return batch
