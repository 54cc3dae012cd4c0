"""The template of a vision-language family: the conversation rendered by the family's ``TemplateMeta``
(the swift template engine, so loss scales and the loss mask work as for text), each ``<image>``/``<video>``
/``<audio>`` tag replaced by the family's placeholder (``<|vision_start|><|image_pad|><|vision_end|>``),
then the family's own processor expands the placeholders and computes the pixel (or audio) inputs. The
loss mask is carried across the expansion: the expanded ids are walked beside the template's, every run of
placeholder tokens inherits the placeholder's (context) label, and any other difference is an error. So the
ids are, token for token, what the processor makes of the rendered text.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from swiftk.api import load_reference
from swiftk_models.encoding import Segment, tokenize_segments
from swiftk_models.template import MaxLengthError, Template

from swiftk_multimodal.media import MediaError, load_audio, load_image, load_video, media_of, split_tags


class ProcessorTemplate(Template):
    #: ``--max_pixels``: an image with more pixels (H * W) is scaled down to it first, keeping its shape
    max_pixels: Optional[int] = None

    def __init__(self, processor: Any, template_meta: Any = None, **kwargs: Any):
        super().__init__(processor, template_meta, **kwargs)
        self.is_multimodal = True
        self.placeholders: dict[str, str] = dict(self.meta.extra.get("placeholders") or {})
        self.hf_processor = processor if hasattr(processor, "tokenizer") else None

    # -- encoding -------------------------------------------------------------------------------------
    def encode(self, row: dict, add_generation_prompt: bool = False) -> dict:
        try:
            messages, media = media_of(row)
        except MediaError as exc:
            raise ValueError(str(exc)) from None
        for kind, items in media.items():
            if items and kind not in self.placeholders:
                raise ValueError(f"template {self.template_type} takes no {kind}s ({len(items)} given)")
        row = {**row, "messages": messages}
        generate = add_generation_prompt or self.mode == "infer"
        segments = [self._with_placeholders(s) for s in self.render_segments(row, generate)]
        if generate:
            ids, _ = tokenize_segments(self.tokenizer, segments)
            labels, scale = None, None
        else:
            segments, weights = self.loss_scale.apply(segments)
            ids, owner = tokenize_segments(self.tokenizer, segments)
            per_token = [weights[k] for k in owner]
            labels = [t if w > 0 else -100 for t, w in zip(ids, per_token)]
            scale = None if getattr(self.loss_scale, "is_binary", True) else per_token
        text = "".join(s.content if s.is_text else self.tokenizer.decode(s.content) for s in segments)
        encoded = self._expand(text, ids, labels, scale, media)
        limit = self.max_length
        if limit and len(encoded["input_ids"]) > limit:
            if any(media.values()):  # cutting would cut an image's tokens
                raise MaxLengthError(
                    f"the row has {len(encoded['input_ids'])} tokens with its media, more than --max_length {limit}"
                )
            return self._truncate(encoded)
        return encoded

    def prompt_and_media(self, row: dict) -> tuple[list, dict]:
        """The prompt's ids with each placeholder left unexpanded, and its media loaded in vLLM's
        ``multi_modal_data`` form (images; videos as frame arrays; audio as ``(samples, rate)``): for an engine
        whose own processor expands the placeholders. Media only for families whose template meta says
        ``vllm_media`` (their placeholders are the processor's own); others raise ``ValueError``."""
        import numpy as np

        try:
            messages, media = media_of(row)
        except MediaError as exc:
            raise ValueError(str(exc)) from None
        if any(media.values()) and not self.meta.extra.get("vllm_media"):
            raise ValueError(
                f"template {self.template_type}: the vllm backend takes no media for this family here "
                "(its placeholders are expanded by swiftk's template); use --infer_backend pt"
            )
        segments = [self._with_placeholders(s) for s in self.render_segments({**row, "messages": messages}, True)]
        ids, _ = tokenize_segments(self.tokenizer, segments)
        loaded: dict[str, list] = {}
        if media["image"]:
            loaded["image"] = [self._bounded(load_image(x)) for x in media["image"]]
        if media["video"]:
            reader = self.meta.extra.get("video_reader")
            read = load_reference(reader) if reader else load_video
            loaded["video"] = [np.stack([np.asarray(f) for f in read(x)]) for x in media["video"]]
        if media["audio"]:
            rate = getattr(getattr(self.hf_processor, "feature_extractor", None), "sampling_rate", 16000)
            loaded["audio"] = [(load_audio(x, rate), rate) for x in media["audio"]]
        return ids, loaded

    def _with_placeholders(self, seg: Segment) -> Segment:
        if not seg.is_text or "<" not in seg.content:
            return seg
        parts = [self.placeholders[kind] if kind else text for kind, text in split_tags(seg.content)]
        return dataclasses.replace(seg, content="".join(parts))

    def _expand(self, text: str, ids: list, labels: Optional[list], scale: Optional[list], media: dict) -> dict:
        base = {"input_ids": ids, "labels": labels, "loss_scale": scale, "length": len(ids)}
        if not any(media.values()):
            return base
        if self.hf_processor is None:
            raise ValueError(f"template {self.template_type}: the model's processor cannot read images")
        inputs: dict[str, Any] = {}
        if media["image"]:
            inputs["images"] = [self._bounded(load_image(x)) for x in media["image"]]
        if media["video"]:
            reader = self.meta.extra.get("video_reader")  # "module:function", the family's frame sampling
            read = load_reference(reader) if reader else load_video
            inputs["videos"] = [read(x) for x in media["video"]]
            inputs["videos_kwargs"] = dict(self.meta.extra.get("videos_kwargs") or {})
        if media["audio"]:
            rate = getattr(getattr(self.hf_processor, "feature_extractor", None), "sampling_rate", 16000)
            inputs["audio"] = [load_audio(x, rate) for x in media["audio"]]
        out = self.hf_processor(text=[text], return_tensors="pt", add_special_tokens=False, **inputs)
        timing = self.meta.extra.get("video_seconds_per_grid")  # the frames came without their timing
        if timing and "second_per_grid_ts" in out:
            out["second_per_grid_ts"] = [load_reference(timing)(self.hf_processor)] * len(inputs["videos"])
        expanded = out["input_ids"][0].tolist()
        new_labels, new_scale = self._align(ids, expanded, labels, scale)
        extra: dict[str, Any] = {}
        for key, value in out.items():
            if key in ("input_ids", "attention_mask"):
                continue
            if getattr(value, "dim", lambda: 0)() == 2 and tuple(value.shape) == (1, len(expanded)):
                extra[key] = value[0].tolist()  # per token (mm_token_type_ids): padded as the ids are
            else:
                extra[key] = value
        return {"input_ids": expanded, "labels": new_labels, "loss_scale": new_scale, "length": len(expanded), **extra}

    def _bounded(self, image: Any) -> Any:
        if not self.max_pixels or image.width * image.height <= self.max_pixels:
            return image
        scale = (self.max_pixels / (image.width * image.height)) ** 0.5
        return image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))

    def _align(self, ids: list, expanded: list, labels: Optional[list], scale: Optional[list]) -> tuple:
        """Labels (and loss scales) of the expanded ids: a token repeated where the template had it once
        inherits its value; everything else must match one to one."""
        new_labels = [] if labels is not None else None
        new_scale = [] if scale is not None else None
        i = j = 0
        while j < len(expanded):
            if i < len(ids) and ids[i] == expanded[j]:
                take = 1
                # a placeholder token the processor repeated (or added copies of)
                while (
                    j + take < len(expanded)
                    and expanded[j + take] == ids[i]
                    and (i + 1 >= len(ids) or ids[i + 1] != ids[i])
                ):
                    take += 1
            else:
                raise ValueError(
                    f"template {self.template_type}: the processor's ids differ from the template's at token {j} "
                    f"({expanded[j]} vs {ids[i] if i < len(ids) else 'the end'}); the tokenizer and the template disagree"
                )
            if new_labels is not None:
                new_labels += [labels[i] if take == 1 else -100] * take
            if new_scale is not None:
                new_scale += [scale[i] if take == 1 else 0.0] * take
            i += 1
            j += take
        if i != len(ids):
            raise ValueError(f"template {self.template_type}: the processor dropped tokens of the prompt")
        return new_labels, new_scale

    # -- batching ---------------------------------------------------------------------------------------
    def data_collator(self, batch: list[dict], padding_to: Optional[int] = None) -> dict:
        """The text part padded as for text models; each medium's tensors (pixel values, grids, sizes)
        concatenated along their first axis, as the families' processors batch them."""
        import torch

        out = super().data_collator(batch, padding_to)
        width = out["input_ids"].shape[1]
        left = self.mode == "infer" or self.padding_side == "left"
        text_keys = ("input_ids", "labels", "loss_scale", "length")
        for key in dict.fromkeys(k for b in batch for k in b if k not in text_keys):
            values = [b.get(key) for b in batch]
            if any(_per_token(v, b) for v, b in zip(values, batch)):  # padded with zeros like the ids
                values = [v if v is not None else [0] * len(b["input_ids"]) for v, b in zip(values, batch)]
                rows = [[0] * (width - len(v)) + v if left else v + [0] * (width - len(v)) for v in values]
                out[key] = torch.tensor(rows, dtype=torch.long)
                continue
            present = [torch.as_tensor(v) for v in values if v is not None]
            if present:
                if len({p.shape[1:] for p in present}) > 1 and len({p.dim() for p in present}) == 1:
                    # rows of different sizes (LLaVA-NeXT's tiles per image): zero-padded at the end of each
                    # axis, as the processor pads a batch itself (the model cuts them back by image_sizes)
                    top = [max(p.shape[d] for p in present) for d in range(present[0].dim())]
                    pads = [[x for d in reversed(range(1, p.dim())) for x in (0, top[d] - p.shape[d])] for p in present]
                    present = [torch.nn.functional.pad(p, pad) for p, pad in zip(present, pads)]
                out[key] = torch.cat(present, dim=0)
        return out


def _per_token(value: Any, row: dict) -> bool:
    """A value with one integer per token of the row (``mm_token_type_ids``), as opposed to a medium's tensor
    (which an eagerly encoded dataset also gives back as lists, of lists)."""
    return (
        isinstance(value, list)
        and len(value) == len(row["input_ids"])
        and not (value and isinstance(value[0], (list, tuple)))
    )
