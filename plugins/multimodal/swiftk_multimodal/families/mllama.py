"""Llama 3.2 Vision (ms-swift's ``llama3_2_vision``: ``MllamaForConditionalGeneration``).

The image is one ``<|image|>`` token in the text, read by the LLM's cross-attention layers; the processor adds
``cross_attention_mask`` (one row per token: which images, which tiles it sees), ``pixel_values`` (tiles),
``aspect_ratio_ids`` and ``aspect_ratio_mask``. In a batch the mask is padded as the ids are (left in inference)
and every per-image tensor is padded with zeros to the batch's largest image count, as the processor pads them.

The prompt is the checkpoint's own chat template, token for token: the system turn (knowledge cut-off,
today's date, the system prompt) as Llama 3.2's, except that a conversation with images has no system turn
(the official template prints none then, and refuses a system prompt beside images). ms-swift's
``llama3_2_vision`` prints the system turn in every case; we follow it where the official template has no answer
(images and a system prompt: the system turn with the date and the prompt)."""

from __future__ import annotations

from typing import Any, Optional

from swiftk.api import TemplateMeta
from swiftk_models.encoding import CONTEXT, Segment
from swiftk_models.formats.llama3 import Llama31Template
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

from swiftk_multimodal.families.idefics import ExpandingTemplate

HEADER = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]


class MllamaTemplate(ExpandingTemplate, Llama31Template):
    padded_media = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")
    _with_images = False

    def render_segments(self, row: dict, generate: bool) -> list[Segment]:
        self._with_images = any(
            isinstance(m.get("content"), str) and "<image>" in m["content"] for m in row.get("messages") or []
        )
        return super().render_segments(row, generate)

    def render_head(self, system: Optional[str], tools: list[dict]) -> list[Segment]:
        if self._with_images and not system and not tools:
            return [Segment(self._fill("{{bos_token}}"), CONTEXT)]
        return super().render_head(system, tools)

    def data_collator(self, batch: list[dict], padding_to: Optional[int] = None) -> dict:
        import torch

        masks = [b.get("cross_attention_mask") for b in batch]
        rest = [{k: v for k, v in b.items() if k != "cross_attention_mask"} for b in batch]
        out = super().data_collator(rest, padding_to)
        present = [torch.as_tensor(m) for m in masks if m is not None]
        if present:
            width = out["input_ids"].shape[1]
            images = max(m.shape[2] for m in present)
            tiles = present[0].shape[3]
            left = self.mode == "infer" or self.padding_side == "left"
            rows = torch.zeros(len(batch), width, images, tiles, dtype=present[0].dtype)
            for k, m in enumerate(masks):
                if m is None:
                    continue
                m = torch.as_tensor(m)[0]
                start = width - m.shape[0] if left else 0
                rows[k, start : start + m.shape[0], : m.shape[1]] = m
            out["cross_attention_mask"] = rows
        return out


TEMPLATES: list[TemplateMeta] = [
    template_meta(
        "llama3_2_vision",
        prefix=["{{bos_token}}"],
        prompt=[
            "<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n"
        ],
        chat_sep=["<|eot_id|>"],
        suffix=["<|eot_id|>"],
        stop_words=["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"],
        special_tokens=HEADER + ["<|image|>"],
        strip="system",
        agent_template="llama3",
        template_cls="swiftk_multimodal.families.mllama:MllamaTemplate",
        date_string=None,
        placeholders={"image": "<|image|>"},
        env={},
    ),
]

MLLAMA_ARCH = {
    "language_model": ["model.language_model"],
    "vision_tower": ["model.vision_model"],
    "aligner": ["model.multi_modal_projector"],
}

MODELS: list[Any] = [
    model_meta(
        "llama3_2_vision",
        "llama3_2_vision",
        ["MllamaForConditionalGeneration"],
        [
            ("LLM-Research/Llama-3.2-11B-Vision-Instruct", "meta-llama/Llama-3.2-11B-Vision-Instruct"),
            ("LLM-Research/Llama-3.2-90B-Vision-Instruct", "meta-llama/Llama-3.2-90B-Vision-Instruct"),
            ("LLM-Research/Llama-3.2-11B-Vision", "meta-llama/Llama-3.2-11B-Vision"),
            ("LLM-Research/Llama-3.2-90B-Vision", "meta-llama/Llama-3.2-90B-Vision"),
        ],
        patterns=[r"llama-3\.2-.*vision"],
        arch_default=True,
        is_multimodal=True,
        model_arch=MLLAMA_ARCH,
        requires=["transformers>=4.45"],
        tags=["multimodal", "vision"],
    ),
]

#: meta-llama/Llama-3.2-11B-Vision-Instruct's chat template (its tokenizer_config.json / chat_template.json, as
#: NVIDIA NeMo's MLlamaTemplateConfig copies it): the tiny test checkpoint carries it for the parity check.
MLLAMA_CHAT_TEMPLATE = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- Find out if there are any images #}
{% set image_ns = namespace(has_images=false) %}      
{%- for message in messages %}
    {%- for content in message['content'] %}
        {%- if content['type'] == 'image' %}
            {%- set image_ns.has_images = true %}
        {%- endif %}
    {%- endfor %}
{%- endfor %}

{#- Error out if there are images and system message #}
{%- if image_ns.has_images and not system_message == "" %}
    {{- raise_exception("Prompting with images is incompatible with system messages.") }}
{%- endif %}

{#- System message if there are no images #}
{%- if not image_ns.has_images %}
    {{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
    {%- if tools is not none %}
        {{- "Environment: ipython\n" }}
    {%- endif %}
    {{- "Cutting Knowledge Date: December 2023\n" }}
    {{- "Today Date: " + date_string + "\n\n" }}
    {%- if tools is not none and not tools_in_user_message %}
        {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
        {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
        {{- "Do not use variables.\n\n" }}
        {%- for t in tools %}
            {{- t | tojson(indent=4) }}
            {{- "\n\n" }}
        {%- endfor %}
    {%- endif %}
    {{- system_message }}
    {{- "<|eot_id|>" }}
{%- endif %}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}
        {%- if message['content'] is string %}
            {{- message['content'] }}
        {%- else %}
            {%- for content in message['content'] %}
                {%- if content['type'] == 'image' %}
                    {{- '<|image|>' }}
                {%- elif content['type'] == 'text' %}
                    {{- content['text'] }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""
