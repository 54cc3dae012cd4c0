"""GRPO on rows with images (the Qwen2-VL / Qwen2.5-VL families, whose template says ``grpo_media``).

trl 1.16 has a vision path of its own, but it renders the prompts with the processor's chat template and
runs the processor again for the forward passes, so its ``mm_token_type_ids`` need not line up with the ids
our template and engine sampled from. Here the template's own encoding is used throughout:

* :class:`MediaGRPOMixin` (right before trl's trainer) takes each row's images (the encoded ``grpo_images``
  column) out of what trl sees (so trl stays on its text path), hands them to the rollout, and gives them to
  the reward functions as the ``images`` column (None for a text row);
* the rollout (:class:`swiftk_grpo.rollout.EngineRollout`) sends each prompt with its images to the engine
  and returns, per completion, the template's media of the prompt (``pixel_values``, ``image_grid_thw``,
  ``mm_token_type_ids``), checked against the ids the engine sampled from;
* those media go into every log-prob forward pass (old policy, reference, and the loss's, through trl's
  batch keys ``pixel_values``/``image_grid_thw``/``num_images``/``mm_token_type_ids``, which trl splits and
  shuffles per row), one chunk of rows at a time, a chunk of text rows without pixels.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

#: the encoded rows' images (:func:`swiftk_rlhf.media.pack` of the ``images`` column; empty for a text row)
IMAGES_COLUMN = "grpo_images"
#: trl's batch keys of the media (what ``_compute_loss`` hands to the log-prob pass)
MEDIA_KEYS = ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids")


def image_parts(messages: list[dict], images: list) -> list[dict]:
    """The prompt with its ``<image>`` tags as OpenAI ``image`` content parts (the engine's request form);
    images without a tag go in front of the first user message, as ms-swift puts them."""
    import re

    queue = list(images)
    out = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str) or "<image>" not in content or not queue:
            out.append(message)
            continue
        parts: list[dict] = []
        for piece in re.split(r"(<image>)", content):
            if piece == "<image>" and queue:
                parts.append({"type": "image", "image": queue.pop(0)})
            elif piece:
                parts.append({"type": "text", "text": piece})
        out.append({**message, "content": parts})
    if queue:
        first = next((i for i, m in enumerate(out) if m.get("role") == "user"), None)
        if first is not None:
            content = out[first]["content"]
            text = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
            out[first] = {**out[first], "content": [{"type": "image", "image": x} for x in queue] + text}
    return out


def prompt_media(encoded: dict) -> dict:
    """The media of a prompt's encoding: ``pixel_values``/``image_grid_thw`` tensors and its per-token
    ``mm_token_type_ids`` (a list); empty for a text prompt."""
    if encoded.get("pixel_values") is None:
        return {}
    length = len(encoded["input_ids"])
    types = encoded.get("mm_token_type_ids")
    return {
        "pixel_values": torch.as_tensor(encoded["pixel_values"]),
        "image_grid_thw": torch.as_tensor(encoded["image_grid_thw"]),
        "mm_token_type_ids": list(types) if types is not None else [0] * length,
    }


def batch_media(rows: list[dict], prompt_width: int, completion_width: int, device: Any) -> dict:
    """trl's media keys for rows whose prompts are left-padded to ``prompt_width``."""
    types = []
    for media in rows:
        prompt = list(media.get("mm_token_type_ids") or [])[-prompt_width:] if prompt_width else []
        types.append([0] * (prompt_width - len(prompt)) + prompt + [0] * completion_width)
    with_pixels = [m for m in rows if m]
    return {
        "pixel_values": torch.cat([m["pixel_values"] for m in with_pixels]).to(device),
        "image_grid_thw": torch.cat([m["image_grid_thw"] for m in with_pixels]).to(device),
        "num_images": [int(m["image_grid_thw"].size(0)) if m else 0 for m in rows],
        "mm_token_type_ids": torch.tensor(types, dtype=torch.long, device=device),
    }


class MediaGRPOMixin:
    """Images of the rows to the rollouts, the rewards and every log-prob forward pass."""

    #: the generation batch's images (one list per row), while trl scores it
    _row_images: Optional[list] = None
    #: its media per row (from the rollout), while trl computes the old/reference log-probabilities
    _pending_media: Optional[list] = None

    def _generate_and_score_completions(self, inputs: list) -> dict:
        if not any(IMAGES_COLUMN in row for row in inputs):
            return super()._generate_and_score_completions(inputs)
        from swiftk_rlhf.media import unpack

        images = [list(unpack(row.get(IMAGES_COLUMN)) or []) for row in inputs]
        rows = [{k: v for k, v in row.items() if k != IMAGES_COLUMN} for row in inputs]  # trl: a text batch
        self._row_images = [x or None for x in images]
        rollout = self.rollout if any(images) else None
        if rollout is not None:
            rollout.images = images
        try:
            output = super()._generate_and_score_completions(rows)
        finally:
            self._row_images = self._pending_media = None
            if rollout is not None:
                rollout.images = None
        if rollout is not None:
            widths = output["prompt_ids"].size(1), output["completion_ids"].size(1)
            output.update(batch_media(rollout.media, *widths, self.accelerator.device))
        return output

    def _generate(self, prompts: list):
        result = super()._generate(prompts)
        if self._row_images is not None and any(self._row_images):  # the old/reference passes take the media
            self._pending_media = self.rollout.media
        return result

    def _calculate_rewards(self, inputs: list, *args: Any, **kwargs: Any):
        if self._row_images is not None:  # the reward functions see the images column, as the dataset has it
            inputs = [{**row, "images": images} for row, images in zip(inputs, self._row_images)]
        return super()._calculate_rewards(inputs, *args, **kwargs)

    def _get_per_token_logps_and_entropies(
        self,
        model: Any,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        logits_to_keep: int,
        batch_size: Optional[int] = None,
        compute_entropy: bool = False,
        compute_aux_loss: bool = False,
        **media: Any,
    ):
        if media.get("pixel_values") is None and self._pending_media is not None:
            width = input_ids.size(1) - logits_to_keep
            media = {**media, **batch_media(self._pending_media, width, logits_to_keep, input_ids.device)}
        if media.get("pixel_values") is None or media.get("num_images") is None:
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, **media
            )
        # one chunk at a time: trl would hand a chunk of text rows an empty pixel tensor
        counts = list(media["num_images"])
        grid = media["image_grid_thw"]
        patches = grid.prod(dim=-1).tolist()
        image_start = [0]
        for n in counts:
            image_start.append(image_start[-1] + n)
        patch_start = [0]
        for n in patches:
            patch_start.append(patch_start[-1] + int(n))
        step = batch_size or input_ids.size(0)
        logps, entropies, aux = [], [], []
        for start in range(0, input_ids.size(0), step):
            end = min(start + step, input_ids.size(0))
            chunk = {"mm_token_type_ids": media["mm_token_type_ids"][start:end]}
            first, last = image_start[start], image_start[end]
            if last > first:
                chunk.update(
                    pixel_values=media["pixel_values"][patch_start[first] : patch_start[last]],
                    image_grid_thw=grid[first:last],
                    num_images=counts[start:end],
                )
            out = super()._get_per_token_logps_and_entropies(
                model,
                input_ids[start:end],
                attention_mask[start:end],
                logits_to_keep,
                None,
                compute_entropy,
                compute_aux_loss,
                **chunk,
            )
            logps.append(out[0])
            entropies.append(out[1])
            aux.append(out[2])
        return (
            torch.cat(logps),
            torch.cat(entropies) if compute_entropy else None,
            torch.stack(aux).mean() if compute_aux_loss else None,
        )
