"""Qwen2-VL, Qwen2.5-VL and QVQ: ChatML with ``<|vision_start|><|image_pad|><|vision_end|>`` placeholders."""

from __future__ import annotations

from swiftk.api import TemplateMeta
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

from swiftk_multimodal.families._common import TEMPLATE_CLS

CHATML = dict(
    system_prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
    prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
    chat_sep=["<|im_end|>\n"],
    suffix=["<|im_end|>"],
    stop_words=["<|endoftext|>", "<|im_end|>"],
    special_tokens=["<|im_start|>", "<|im_end|>"],
)
QWEN_VL_PLACEHOLDERS = {
    "image": "<|vision_start|><|image_pad|><|vision_end|>",
    "video": "<|vision_start|><|video_pad|><|vision_end|>",
}

#: The official Qwen2-VL / Qwen2.5-VL chat template (the checkpoints' chat_template.json): the tiny test
#: checkpoints carry it so that the template's prompts can be compared with the family's own, token for token.
QWEN2_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}{{ message['content'] }}"
    "<|im_end|>\n{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in "
    "content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] "
    "== 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content "
    "%}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "<|im_start|>assistant\n{% endif %}"
)

#: The page's environment parameters of each family -> the processor keyword each sets (None: read elsewhere)
QWEN_VL_ENV = {"MAX_PIXELS": "max_pixels", "MIN_PIXELS": "min_pixels"}

QVQ_SYSTEM = (
    "You are a helpful and harmless assistant. You are Qwen developed by Alibaba. "
    "Answer in the language of the question. You should think step-by-step."
)


def _qwen_vl_template(name: str, system: str = "You are a helpful assistant.") -> TemplateMeta:
    return template_meta(
        name,
        default_system=system,
        template_cls=TEMPLATE_CLS,
        placeholders=QWEN_VL_PLACEHOLDERS,
        env=QWEN_VL_ENV,
        # videos: sampled and resized as qwen-vl-utils does (FPS, VIDEO_MAX_PIXELS, ...), then taken as they are
        video_reader="swiftk_multimodal.video:qwen_vl_frames",
        videos_kwargs={"do_resize": False},
        video_seconds_per_grid="swiftk_multimodal.video:seconds_per_grid",  # Qwen2.5-VL's time positions
        vllm_media=True,  # vLLM's own Qwen2-VL processor expands these placeholders
        dpo_media=True,  # flat media tensors, read in batch order: swift-plugin-rlhf's DPO batches them
        grpo_media=True,  # and swift-plugin-grpo's rollouts and log-prob passes (images)
        **CHATML,
    )


TEMPLATES: list[TemplateMeta] = [
    _qwen_vl_template("qwen2_vl"),
    _qwen_vl_template("qwen2_5_vl"),
    _qwen_vl_template("qvq", QVQ_SYSTEM),
]

_TAGS = ["multimodal", "vision"]
#: where --freeze_llm/vit/aligner find each part (module prefixes of the loaded model)
QWEN_VL_ARCH = {
    "language_model": ["model.language_model"],
    "vision_tower": ["model.visual"],
    "aligner": ["model.visual.merger"],
}


def _qwen_vl_model(model_type: str, arch: str, ids: list, pattern: str, version: str, **extra) -> object:
    return model_meta(
        model_type,
        model_type,
        [arch],
        [(i, i) for i in ids],
        patterns=[pattern],
        is_multimodal=True,
        model_arch=QWEN_VL_ARCH,
        requires=[f"transformers>={version}", "torchvision"],
        **extra,
    )


MODELS = [
    _qwen_vl_model(
        "qwen2_vl",
        "Qwen2VLForConditionalGeneration",
        ["Qwen/Qwen2-VL-2B-Instruct", "Qwen/Qwen2-VL-7B-Instruct"],
        r"qwen2-vl",
        "4.45",
        arch_default=True,
        tags=_TAGS + ["video"],
    ),
    _qwen_vl_model("qvq", "Qwen2VLForConditionalGeneration", ["Qwen/QVQ-72B-Preview"], r"qvq", "4.45", tags=_TAGS),
    _qwen_vl_model(
        "qwen2_5_vl",
        "Qwen2_5_VLForConditionalGeneration",
        ["Qwen/Qwen2.5-VL-3B-Instruct", "Qwen/Qwen2.5-VL-7B-Instruct", "Qwen/Qwen2.5-VL-72B-Instruct"],
        r"qwen2\.5-vl",
        "4.49",
        arch_default=True,
        tags=_TAGS + ["video"],
    ),
]
