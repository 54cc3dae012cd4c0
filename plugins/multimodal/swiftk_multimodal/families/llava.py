"""The LLaVA families transformers implements (ms-swift 3.2.2's ``*_hf`` model types): LLaVA 1.5
(``LlavaForConditionalGeneration``), LLaVA-NeXT 1.6 (``LlavaNextForConditionalGeneration``: Mistral, Vicuna, Yi,
Llama 3, Qwen), LLaVA-OneVision, LLaVA-NeXT-Video, and xtuner's llava-llama3.

Each tag becomes ``<image>\\n`` (``<video>\\n``) where it stands, as ms-swift's ``replace_tag`` does, and the
family's processor expands ``<image>`` into the image's features (anyres tiles for NeXT and OneVision). The
templates are ms-swift's (prefix, prompt, separators, default systems), with one repair: ms-swift's
``llava1_6_mistral_hf`` system prefix (``<<SYS>>\\n{{system}}...``: a lower-case placeholder it never fills, and
no ``<s>[INST]``) is written as the checkpoint's own chat template writes a system message.

They differ from the llava-hf checkpoints' chat templates, which put every image of a message before its text
and write ``USER: <image>\nQ ASSISTANT:`` (1.5: ms-swift writes ``USER: <image>\nQ\nASSISTANT:``) or
``<|im_start|>user <image>\nQ<|im_end|>`` (OneVision: ms-swift writes ChatML, the original LLaVA-NeXT repository's
Qwen conversation format); Mistral's agrees with its chat template on a question after an image. test_llava.py
compares both and asserts exactly these differences.

Tested on tiny random checkpoints (tests/tiny_llava.py): llava1_5_hf, llava1_6_mistral_hf, llava_onevision_hf.
Registered as ms-swift registers them but NOT tested on a checkpoint here: llava1_6_vicuna_hf, llava1_6_yi_hf,
llama3_llava_next_hf, llava_next_qwen_hf, llava_llama3_1_hf (the tested LLaVA-NeXT classes and processor, other
templates); llava_next_video_hf and llava_next_video_yi_hf (videos: ``NUM_FRAMES`` frames, 16 by default, sampled
as ms-swift samples them; ms-swift's reading of a ``.jpg``/``.png`` "video" as an image is not kept); and
llava_llama3_hf (xtuner's checkpoint: transformers 5 expands its images only if its processor knows the patch size).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from swiftk.api import TemplateMeta
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

from swiftk_multimodal.families._common import TEMPLATE_CLS

IMAGE = {"image": "<image>\n"}
VIDEO = {"image": "<image>\n", "video": "<video>\n"}

#: the official chat templates (the llava-hf checkpoints' chat_template.json), which the tiny test checkpoints
#: carry: llava-1.5-7b-hf and llava-v1.6-vicuna-7b-hf share VICUNA_CHAT_TEMPLATE
VICUNA_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}"
    "{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}"
    "{{ 'ASSISTANT:' }}{% endif %}"
)
#: llava-v1.6-mistral-7b-hf (its ``<\\s>`` after an answer is the checkpoint's own typo)
MISTRAL_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<<SYS>>\n' + message['content'][0]['text'] "
    "+ '\n<</SYS>>\n\n' }}{% elif message['role'] == 'user' %}{{ '[INST] ' }}{# Render all images first #}{% for "
    "content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] }}{% endfor %}{{' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' ' + message['content'][0]['text'] + '<\\\\s> '}}{% else %}"
    "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
#: llava-onevision-qwen2-*-ov-hf
ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}{# Render all images first #}{% for "
    "content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{# Render all video then #}{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in "
    "message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\n' + content['text'] }}{% endfor %}"
    "{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}"
    "{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}{{'<|im_end|>'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

VICUNA_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
LLAVA_LLAMA3_1_SYSTEM = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that the user "
    "provides, and assist the user with a variety of tasks using natural language."
)
#: the video frames ms-swift samples (``NUM_FRAMES``, default 16): read by read_video, not the processor
VIDEO_ENV = {"NUM_FRAMES": None}


def read_video(value: Any) -> list:
    """A video's frames as ms-swift's ``load_video_llava`` samples them: ``NUM_FRAMES`` (default 16) evenly
    spaced from the first to the last frame."""
    import numpy as np
    from swiftk.api import get_model_arg

    from swiftk_multimodal.video import decode, in_order

    count = get_model_arg("NUM_FRAMES", 16, type=int)

    def spread(total: int, rate: Any = None) -> list:
        return [int(i) for i in np.linspace(0, total - 1, count, dtype=int)]

    frames, _, order = decode(value, pick=spread)  # only the picked frames kept, where the stream says its length
    return in_order(frames, order) if order is not None else [frames[i] for i in spread(len(frames))]


# ms-swift's template metas, in our form ({{bos_token}}/{{eos_token}} for its '<s>'/'</s>', AUTO_BOS for auto_add_bos)
CHATML = dict(
    system_prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
    prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
    chat_sep=["<|im_end|>\n"],
    suffix=["<|im_end|>"],
    special_tokens=["<|im_start|>", "<|im_end|>"],
)
LLAMA3 = dict(
    prefix=["{{bos_token}}"],
    system_prefix=["{{bos_token}}<|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>"],
    prompt=[
        "<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ],
    chat_sep=["<|eot_id|>"],
    suffix=["<|eot_id|>"],
    stop_words=["<|eot_id|>"],
    special_tokens=["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
)
VICUNA = dict(
    prefix=["{{bos_token}}"],
    prompt=["USER: {{QUERY}} ASSISTANT:"],
    chat_sep=["{{eos_token}}"],
    suffix=["{{eos_token}}"],
    stop_words=["</s>"],
)


#: ms-swift's ``auto_add_bos``: the BOS the tokenizer itself puts in front, if it puts one (Yi's may not)
AUTO_BOS = "{{auto_bos}}"
AUTO_BOS_CLS = "swiftk_multimodal.families.llava:AutoBosTemplate"


def __getattr__(name: str) -> Any:
    if name == "AutoBosTemplate":  # built on first use: the family modules import no template machinery
        from swiftk_multimodal.template import ProcessorTemplate

        class AutoBosTemplate(ProcessorTemplate):
            def _fill(self, text: str, **values: str) -> str:
                if AUTO_BOS in text:
                    tok = self.tokenizer
                    probe = tok("a")["input_ids"]
                    adds = tok.bos_token_id is not None and probe[:1] == [tok.bos_token_id]
                    text = text.replace(AUTO_BOS, tok.bos_token if adds else "")
                return super()._fill(text, **values)

        globals()[name] = AutoBosTemplate
        return AutoBosTemplate
    raise AttributeError(name)


def _template(name: str, placeholders: dict = IMAGE, **kwargs: Any) -> TemplateMeta:
    kwargs.setdefault("template_cls", TEMPLATE_CLS)
    return template_meta(name, placeholders=placeholders, env={}, **kwargs)


TEMPLATES: list[TemplateMeta] = [
    _template(
        "llava1_5_hf",
        prefix=["{{bos_token}}"],
        system_prefix=["{{bos_token}}{{SYSTEM}}\n"],
        prompt=["USER: {{QUERY}}\nASSISTANT:"],
        chat_sep=["{{eos_token}}"],
        suffix=["{{eos_token}}"],
        stop_words=["</s>"],
    ),
    _template(
        "llava1_6_mistral_hf",
        prefix=["{{bos_token}}[INST] "],
        system_prefix=["{{bos_token}}<<SYS>>\n{{SYSTEM}}\n<</SYS>>\n\n[INST] "],
        prompt=["{{QUERY}} [/INST]"],
        chat_sep=["{{eos_token}}[INST] "],
        suffix=["{{eos_token}}"],
        stop_words=["</s>"],
    ),
    _template("llava1_6_vicuna_hf", default_system=VICUNA_SYSTEM, system_prefix=["{{bos_token}}{{SYSTEM}} "], **VICUNA),
    _template(
        "llava1_6_yi_hf",
        template_cls=AUTO_BOS_CLS,
        prefix=[AUTO_BOS],
        stop_words=["<|im_end|>"],
        **{**CHATML, "system_prefix": [AUTO_BOS + CHATML["system_prefix"][0]]},
    ),
    _template("llama3_llava_next_hf", **LLAMA3),
    _template("llava_llama3_1_hf", default_system=LLAVA_LLAMA3_1_SYSTEM, **LLAMA3),
    _template("llava_llama3_hf", **LLAMA3),
    _template(
        "llava_next_qwen_hf",
        default_system="You are a helpful assistant.",
        stop_words=["<|endoftext|>", "<|im_end|>"],
        **CHATML,
    ),
    _template("llava_onevision_hf", stop_words=["<|endoftext|>", "<|im_end|>"], **CHATML),
    template_meta(
        "llava_next_video_hf",
        template_cls=AUTO_BOS_CLS,
        placeholders=VIDEO,
        env=VIDEO_ENV,
        video_reader="swiftk_multimodal.families.llava:read_video",
        prefix=[AUTO_BOS + " "],
        system_prefix=[AUTO_BOS + "{{SYSTEM}} "],
        prompt=["USER: {{QUERY}} ASSISTANT:"],
        chat_sep=[" "],
        suffix=["{{eos_token}}"],
    ),
]

#: where --freeze_llm/vit/aligner find each part in transformers 5's classes: the LLM under model.language_model
#: (its head, lm_head, and NeXT's image_newline count with the LLM, as ms-swift leaves them outside every part)
LLAVA_ARCH = {
    "language_model": ["model.language_model"],
    "vision_tower": ["model.vision_tower"],
    "aligner": ["model.multi_modal_projector"],
}
_TAGS = ["multimodal", "vision"]
LOADER = "swiftk_multimodal.families.llava:load_llava"


def load_llava(model_dir: str, model_info: Any, model_kwargs: dict, load_model: bool = True, **kwargs: Any):
    """The family's processor and model; the model's ``<image>``/``<video>`` ids set to the tokenizer's, as
    ms-swift sets them by hand for the Yi checkpoints (64003/64004), whose configs name other ids."""
    from swiftk_multimodal.loader import load_vlm

    model, processor = load_vlm(model_dir, model_info, model_kwargs, load_model, **kwargs)
    if model is not None:
        for kind in ("image", "video"):
            token_id = getattr(processor, f"{kind}_token_id", None)
            if token_id is not None and getattr(model.config, f"{kind}_token_id", token_id) != token_id:
                setattr(model.config, f"{kind}_token_id", token_id)
    return model, processor


def _model(model_type: str, arch: str, ids: list, pattern: str, version: str, tags=_TAGS, **extra: Any) -> Any:
    meta = model_meta(
        model_type,
        extra.pop("template", model_type),
        [arch],
        [(i, i) if isinstance(i, str) else i for i in ids],
        patterns=[pattern],
        is_multimodal=True,
        model_arch=LLAVA_ARCH,
        requires=[f"transformers>={version}"] + extra.pop("requires", []),
        tags=tags,
        **extra,
    )
    return dataclasses.replace(meta, get_function=LOADER)


MODELS = [
    _model(
        "llava1_5_hf",
        "LlavaForConditionalGeneration",
        ["llava-hf/llava-1.5-7b-hf", "llava-hf/llava-1.5-13b-hf"],
        r"llava-1\.5",
        "4.36",
        arch_default=True,
    ),
    _model(
        "llava_llama3_hf",
        "LlavaForConditionalGeneration",
        [("AI-ModelScope/llava-llama-3-8b-v1_1-transformers", "xtuner/llava-llama-3-8b-v1_1-transformers")],
        r"llava-llama-3",
        "4.36",
    ),
    _model(
        "llava1_6_mistral_hf",
        "LlavaNextForConditionalGeneration",
        ["llava-hf/llava-v1.6-mistral-7b-hf"],
        r"llava-v1\.6-mistral",
        "4.39",
        arch_default=True,
    ),
    _model(
        "llava1_6_vicuna_hf",
        "LlavaNextForConditionalGeneration",
        ["llava-hf/llava-v1.6-vicuna-7b-hf", "llava-hf/llava-v1.6-vicuna-13b-hf"],
        r"llava-v1\.6-vicuna",
        "4.39",
    ),
    _model(
        "llava1_6_yi_hf",
        "LlavaNextForConditionalGeneration",
        ["llava-hf/llava-v1.6-34b-hf"],
        r"llava-v1\.6-34b",
        "4.39",
    ),
    _model(
        "llama3_llava_next_hf",
        "LlavaNextForConditionalGeneration",
        ["llava-hf/llama3-llava-next-8b-hf"],
        r"llama3-llava-next",
        "4.39",
    ),
    _model(
        "llava_next_qwen_hf",
        "LlavaNextForConditionalGeneration",
        ["llava-hf/llava-next-72b-hf", "llava-hf/llava-next-110b-hf"],
        r"llava-next-(72|110)b",
        "4.39",
    ),
    _model(
        "llava_llama3_1_hf",
        "LlavaNextForConditionalGeneration",
        [("swift/llava-llama3.1-8b", None)],
        r"llava-llama3\.1",
        "4.41",
    ),
    _model(
        "llava_onevision_hf",
        "LlavaOnevisionForConditionalGeneration",
        [
            "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
            "llava-hf/llava-onevision-qwen2-7b-ov-hf",
            "llava-hf/llava-onevision-qwen2-72b-ov-hf",
        ],
        r"llava-onevision",
        "4.45",
        arch_default=True,
        tags=_TAGS + ["video"],
    ),
    _model(
        "llava_next_video_hf",
        "LlavaNextVideoForConditionalGeneration",
        [
            "llava-hf/LLaVA-NeXT-Video-7B-DPO-hf",
            "llava-hf/LLaVA-NeXT-Video-7B-32K-hf",
            "llava-hf/LLaVA-NeXT-Video-7B-hf",
        ],
        r"llava-next-video-7b",
        "4.42",
        arch_default=True,
        tags=["multimodal", "video"],
        requires=["av"],
    ),
    _model(
        "llava_next_video_yi_hf",
        "LlavaNextVideoForConditionalGeneration",
        ["llava-hf/LLaVA-NeXT-Video-34B-hf"],
        r"llava-next-video-34b",
        "4.42",
        template="llava_next_video_hf",
        tags=["multimodal", "video"],
        requires=["av"],
    ),
]
