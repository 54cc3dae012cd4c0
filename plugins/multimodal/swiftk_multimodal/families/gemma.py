"""Gemma 3 with its vision tower (``Gemma3ForConditionalGeneration``, template gemma3_vision) and PaliGemma
(``PaliGemmaForConditionalGeneration``, template paligemma), as ms-swift registers them.

gemma3_vision: the gemma turns of the text gemma3 template (``<start_of_turn>user ... <end_of_turn>``; the system
goes in front of the first query with a blank line, as ms-swift's Gemma3Template and the official template put
it; like the text template, queries and answers are trimmed and a turn ends with ``<end_of_turn>\\n`` as the
official template ends it, where ms-swift 3.2 ends the last with ``<end_of_turn>``), each ``<image>`` tag the
processor's full image sequence (``\\n\\n<start_of_image><image_soft_token>*N<end_of_image>\\n\\n``, as ms-swift
extends its ``<start_of_image>``), the pixel values from the processor, ``token_type_ids`` 1 on the image
tokens. The text around an image is kept as written, as ms-swift keeps it: the official chat template trims
each text part, so ``Compare <image> and <image>`` differs from it by those spaces (tests/test_gemma.py checks
this, and parity everywhere else).

paligemma: not a chat model. ms-swift's template: ``<image>*image_seq_length<bos>`` for each image, then the
query and ``\\n``, the answer and ``<eos>``; one round only (ms-swift's template has no chat separator).
``token_type_ids`` are 0 on the prompt and 1 on the answer (PaliGemma's prefix-LM attention); the pixel values
are the processor's. For one image the prompt is, token for token, what PaliGemma's processor builds from the
query; for several images ms-swift (and so this template) puts a ``<bos>`` after each image, where the
processor puts one after the last.

Both tested on tiny random checkpoints (tests/test_gemma.py).
"""

from __future__ import annotations

from typing import Any, Optional

from swiftk.api import TemplateMeta
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta
from swiftk_models.templates.misc import GEMMA

from swiftk_multimodal.media import load_image
from swiftk_multimodal.template import ProcessorTemplate

#: The official chat template of the google/gemma-3-*-it checkpoints (their chat_template.json): the tiny test
#: checkpoint carries it so the template's prompts compare with the family's own, token for token.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}\n"
    "{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- if messages[0]['content'] is string -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
    "    {%- else -%}\n"
    "        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}\n"
    "    {%- endif -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n"
    "{%- else -%}\n"
    '    {%- set first_user_prefix = "" -%}\n'
    "    {%- set loop_messages = messages -%}\n"
    "{%- endif -%}\n"
    "{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    '        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}\n'
    "    {%- endif -%}\n"
    "    {%- if (message['role'] == 'assistant') -%}\n"
    '        {%- set role = "model" -%}\n'
    "    {%- else -%}\n"
    "        {%- set role = message['role'] -%}\n"
    "    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n"
    "        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n"
    "                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n"
    "            {%- endif -%}\n"
    "        {%- endfor -%}\n"
    "    {%- else -%}\n"
    '        {{ raise_exception("Invalid content type") }}\n'
    "    {%- endif -%}\n"
    "    {{ '<end_of_turn>\\n' }}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\\n'}}\n"
    "{%- endif -%}\n"
)


class Gemma3VisionTemplate(ProcessorTemplate):
    """Each image's full sequence (``\\n\\n<start_of_image><image_soft_token>*N<end_of_image>\\n\\n``, the
    processor's ``full_image_sequence``) rendered in the text, as ms-swift's Gemma3VisionTemplate extends it; the
    pixel values from the processor; ``token_type_ids`` 1 on the image tokens, as the processor makes them."""

    def __init__(self, processor: Any, template_meta: Any = None, **kwargs: Any):
        super().__init__(processor, template_meta, **kwargs)
        full = getattr(self.hf_processor, "full_image_sequence", None)
        if full:
            self.placeholders["image"] = full

    def _expand(self, text: str, ids: list, labels: Optional[list], scale: Optional[list], media: dict) -> dict:
        out: dict[str, Any] = {"input_ids": ids, "labels": labels, "loss_scale": scale, "length": len(ids)}
        if not media["image"]:
            return out
        if self.hf_processor is None:
            raise ValueError(f"template {self.template_type}: the model's processor cannot read images")
        images = [self._bounded(load_image(x)) for x in media["image"]]
        boi = self.hf_processor.boi_token
        pixels = self.hf_processor(text=[boi * len(images)], images=[images], return_tensors="pt")
        out["pixel_values"] = pixels["pixel_values"]
        image_id = self.tokenizer.convert_tokens_to_ids(self.tokenizer.image_token)
        out["token_type_ids"] = [int(t == image_id) for t in ids]
        return out


class PaliGemmaTemplate(ProcessorTemplate):
    """ms-swift's PaliGemmaTemplate: ``<image>`` * image_seq_length + ``<bos>`` per image, expanded here (the
    processor would rebuild the whole text), pixel values from the processor's image processor, and
    ``token_type_ids`` (0: prompt, 1: answer)."""

    def __init__(self, processor: Any, template_meta: Any = None, **kwargs: Any):
        super().__init__(processor, template_meta, **kwargs)
        n = getattr(self.hf_processor, "image_seq_length", None)
        if n:
            self.placeholders["image"] = "<image>" * n + self.tokenizer.bos_token

    def render_segments(self, row: dict, generate: bool) -> list:
        rounds = sum(1 for m in row.get("messages") or [] if m.get("role") == "user")
        if rounds > 1 and self.mode != "pt" and self.use_chat_template:
            from swiftk_models.conversation import ConversationError

            raise ConversationError(f"template {self.template_type} takes one round ({rounds} user messages given)")
        return super().render_segments(row, generate)

    def _expand(self, text: str, ids: list, labels: Optional[list], scale: Optional[list], media: dict) -> dict:
        out: dict[str, Any] = {"input_ids": ids, "labels": labels, "loss_scale": scale, "length": len(ids)}
        if labels is not None:
            first = next((i for i, label in enumerate(labels) if label != -100), len(labels))
            out["token_type_ids"] = [0] * first + [1] * (len(labels) - first)
        else:
            out["token_type_ids"] = [0] * len(ids)
        if media["image"]:
            if self.hf_processor is None:
                raise ValueError(f"template {self.template_type}: the model's processor cannot read images")
            images = [self._bounded(load_image(x)) for x in media["image"]]
            out["pixel_values"] = self.hf_processor.image_processor(images, return_tensors="pt")["pixel_values"]
        return out


TEMPLATES: list[TemplateMeta] = [
    template_meta(
        "gemma3_vision",
        template_cls="swiftk_multimodal.families.gemma:Gemma3VisionTemplate",
        placeholders={"image": "<start_of_image>"},
        **{**GEMMA, "special_tokens": GEMMA["special_tokens"] + ["<start_of_image>"]},
    ),
    template_meta(
        "paligemma",
        prompt=["{{QUERY}}\n"],
        chat_sep=[],
        suffix=["{{eos_token}}"],
        template_cls="swiftk_multimodal.families.gemma:PaliGemmaTemplate",
        placeholders={"image": "<image>"},  # * image_seq_length + <bos>: set from the processor
        stop_words=["<eos>"],
        no_official_jinja=True,  # not a chat model: its processor builds the prompt (checked in the tests)
    ),
]

_VISION_ARCH = {
    "language_model": ["model.language_model"],
    "vision_tower": ["model.vision_tower"],
    "aligner": ["model.multi_modal_projector"],
}

MODELS = [
    model_meta(
        "gemma3_vision",
        "gemma3_vision",
        ["Gemma3ForConditionalGeneration"],
        [
            (f"LLM-Research/gemma-3-{size}-{kind}", f"google/gemma-3-{size}-{kind}")
            for size in ("4b", "12b", "27b")
            for kind in ("pt", "it")
        ],
        # longer than the text gemma3 type's 'gemma-?3', so a 4b/12b/27b folder is the vision model
        patterns=[r"gemma-?3-\d+b"],
        arch_default=True,  # any Gemma3ForConditionalGeneration folder (the text type is Gemma3ForCausalLM)
        is_multimodal=True,
        model_arch=_VISION_ARCH,
        requires=["transformers>=4.49"],
        tags=["multimodal", "vision"],
    ),
    model_meta(
        "paligemma",
        "paligemma",
        ["PaliGemmaForConditionalGeneration"],
        [
            (f"AI-ModelScope/{name}", f"google/{name}")
            for name in [f"paligemma-3b-pt-{r}" for r in (224, 448, 896)]
            + [f"paligemma-3b-mix-{r}" for r in (224, 448)]
            + [f"paligemma2-{s}-pt-{r}" for s in ("3b", "10b", "28b") for r in (224, 448, 896)]
            + ["paligemma2-3b-ft-docci-448", "paligemma2-10b-ft-docci-448"]
        ],
        patterns=[r"paligemma"],
        arch_default=True,
        is_multimodal=True,
        model_arch=_VISION_ARCH,
        requires=["transformers>=4.41"],
        tags=["multimodal", "vision"],
    ),
]
