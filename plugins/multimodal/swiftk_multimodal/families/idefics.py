"""Idefics3 (ms-swift's ``idefics3``: ``HuggingFaceM4/Idefics3-8B-Llama3``, ``Idefics3ForConditionalGeneration``).

The prompt is the checkpoint's own chat template, token for token: ``<|begin_of_text|>User:<image>...``, with a
space after the colon unless the turn starts with an image (``User: Hi``, ``Assistant: red``, ``System: ...``).
ms-swift's ``idefics3`` template writes ``User:{{QUERY}}`` and ``Assistant:`` with no space anywhere; ours follows
the official template instead (the space of ``Assistant: red`` is the first token of the answer, as the model
generates it). The processor expands each ``<image>`` into ``<fake_token_around_image>``, ``<row_i_col_j>`` /
``<global-img>`` and ``image_seq_len`` ``<image>`` tokens (one run per tile, image splitting on).

SmolVLM: ms-swift registers no ``smolvlm`` model type (checked up to v4.5.2). The first SmolVLM checkpoints
(``HuggingFaceTB/SmolVLM-Instruct``) declare ``Idefics3ForConditionalGeneration`` and load as ``idefics3`` here
(the prefix is the tokenizer's BOS: ``<|im_start|>`` for them), untested on a real checkpoint; SmolVLM2
(``SmolVLMForConditionalGeneration``) is not registered.

``ExpandingTemplate`` is shared with the families whose processor expands a placeholder into several different
tokens (not one repeated token): the label walk matches the text between placeholders exactly and gives
everything the processor put in place of a placeholder the placeholder's label (context, -100)."""

from __future__ import annotations

from typing import Any, Optional

from swiftk.api import TemplateMeta
from swiftk_models.encoding import CONTEXT, Segment
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

from swiftk_multimodal.template import ProcessorTemplate


class ExpandingTemplate(ProcessorTemplate):
    """A ``ProcessorTemplate`` whose processor replaces each placeholder token by a sequence of its own
    (image tokens framed by other tokens, row/column markers, ...); media tensors with a per-row count of
    images or tiles are padded with zeros along that axis in a batch, as the processors pad them."""

    #: keys whose second axis counts images (or tiles) and is padded with zeros across a batch
    padded_media: tuple = ()

    def _placeholder_ids(self) -> set:
        """The ids of the placeholders' own tokens (special or added tokens: ``<image>``, ``<IMG_CONTEXT>``)."""
        if getattr(self, "_marks", None) is None:
            own = set(self.tokenizer.all_special_ids) | set(self.tokenizer.get_added_vocab().values())
            self._marks = {
                tid
                for text in self.placeholders.values()
                for tid in self.tokenizer(text, add_special_tokens=False)["input_ids"]
                if tid in own
            }
        return self._marks

    def _align(self, ids: list, expanded: list, labels: Optional[list], scale: Optional[list]) -> tuple:
        marks = self._placeholder_ids()
        new_labels = [] if labels is not None else None
        new_scale = [] if scale is not None else None
        i = j = 0

        def take(n: int, k: Optional[int]) -> None:
            if new_labels is not None:
                new_labels.extend([labels[k] if k is not None else -100] * n)
            if new_scale is not None:
                new_scale.extend([scale[k] if k is not None else 0.0] * n)

        while i < len(ids):
            if ids[i] in marks:
                k = i
                while k < len(ids) and ids[k] in marks:  # adjacent placeholders: one expanded region
                    k += 1
                end = k
                while end < len(ids) and ids[end] not in marks:
                    end += 1
                chunk = ids[k:end]
                if not chunk:
                    stop = len(expanded)
                else:
                    stop = next(
                        (
                            m
                            for m in range(j + 1, len(expanded) - len(chunk) + 1)
                            if expanded[m : m + len(chunk)] == chunk
                        ),
                        None,
                    )
                    if stop is None:
                        raise ValueError(
                            f"template {self.template_type}: the text after a placeholder (token {k}) is missing "
                            "from the processor's ids; the tokenizer and the template disagree"
                        )
                take(stop - j, None)
                i, j = k, stop
                continue
            if j >= len(expanded) or ids[i] != expanded[j]:
                raise ValueError(
                    f"template {self.template_type}: the processor's ids differ from the template's at token {j} "
                    f"({expanded[j] if j < len(expanded) else 'the end'} vs {ids[i]}); the tokenizer and the template "
                    "disagree"
                )
            take(1, i)
            i += 1
            j += 1
        if j != len(expanded):
            raise ValueError(f"template {self.template_type}: the processor added tokens after the prompt")
        return new_labels, new_scale

    def data_collator(self, batch: list[dict], padding_to: Optional[int] = None) -> dict:
        import torch

        padded = {}
        for key in self.padded_media:
            values = [b.get(key) for b in batch]
            present = [torch.as_tensor(v) for v in values if v is not None]
            if not present:
                continue
            count = max(v.shape[1] for v in present)
            shape = list(present[0].shape)
            rows = []
            for v in values:
                if v is None:  # a row without images, in a batch with some
                    rows.append(torch.zeros([1, count] + shape[2:], dtype=present[0].dtype))
                    continue
                v = torch.as_tensor(v)
                if v.shape[1] < count:
                    pad = torch.zeros([v.shape[0], count - v.shape[1]] + list(v.shape[2:]), dtype=v.dtype)
                    v = torch.cat([v, pad], dim=1)
                rows.append(v)
            padded[key] = torch.cat(rows, dim=0)
        rest = [{k: v for k, v in b.items() if k not in padded} for b in batch]
        out = super().data_collator(rest, padding_to)
        out.update(padded)
        return out


class Idefics3Template(ExpandingTemplate):
    """The official Idefics3 chat template: ``Role:`` then a space unless the message starts with an image."""

    padded_media = ("pixel_values", "pixel_attention_mask")

    def render_head(self, system: Optional[str], tools: list[dict]) -> list[Segment]:
        text = self._fill("{{bos_token}}")
        if system:
            text += f"System: {system}<end_of_utterance>\n"
        return [Segment(text, CONTEXT)]

    def render_query(self, content, rnd, *, first, system, tools, kind="user"):
        colon = ":" if content.startswith(("<image>", "<video>")) else ": "
        text = f"User{colon}{content}<end_of_utterance>\nAssistant:"
        return [Segment(text, CONTEXT, rnd, content)]


IDEFICS3_CHAT_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'].capitalize()}}{% if message['content'][0]['type']"
    " == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text'"
    " %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
"""HuggingFaceM4/Idefics3-8B-Llama3's chat template (its chat_template.json; the same as Idefics2's with the
Llama 3 BOS in front). It renders list contents only (``[{"type": "text", ...}]``): a plain string content is
dropped by it."""

TEMPLATES: list[TemplateMeta] = [
    template_meta(
        "idefics3",
        prefix=["{{bos_token}}"],
        system_prefix=["{{bos_token}}System: {{SYSTEM}}<end_of_utterance>\n"],
        prompt=["User: {{QUERY}}<end_of_utterance>\nAssistant:"],
        chat_sep=["<end_of_utterance>\n"],
        suffix=["<end_of_utterance>"],
        stop_words=["<end_of_utterance>"],
        special_tokens=["<end_of_utterance>", "<image>", "<fake_token_around_image>"],
        template_cls="swiftk_multimodal.families.idefics:Idefics3Template",
        placeholders={"image": "<image>"},
        env={},
        response_lead=" ",
    ),
]

IDEFICS3_ARCH = {
    "language_model": ["model.text_model"],
    "vision_tower": ["model.vision_model"],
    "aligner": ["model.connector"],
}

MODELS: list[Any] = [
    model_meta(
        "idefics3",
        "idefics3",
        ["Idefics3ForConditionalGeneration"],
        [("AI-ModelScope/Idefics3-8B-Llama3", "HuggingFaceM4/Idefics3-8B-Llama3")],
        patterns=[r"idefics3"],
        arch_default=True,
        is_multimodal=True,
        model_arch=IDEFICS3_ARCH,
        requires=["transformers>=4.45"],
        tags=["multimodal", "vision"],
    ),
]
