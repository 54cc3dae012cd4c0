"""Families that need the checkpoint's own (remote) code: the original InternVL (internvl, internvl2,
internvl2_5), MiniCPM-V 2.6 / MiniCPM-o 2.6, Ovis 1.6 / Ovis2, mPLUG-Owl3, InternLM-XComposer2-4KHD / 2.5,
CogVLM2-Video, Phi-3-vision and LLaMA-Omni, as ms-swift v3.2.2 registers them: model type, hub ids,
architectures, ``requires``, the template's text form (prefix / prompt / chat_sep / suffix / system, with
``auto_add_bos``), and the page's environment parameters with ms-swift's defaults.

They load with ``trust_remote_code`` (``remote_templates.load_remote``: ``AutoModelForCausalLM`` as ms-swift's
loader, the family's ``AutoProcessor`` where ms-swift uses it). Tested here: the registration, each
template's text form against ms-swift's, and InternVL's tiling and ``<IMG_CONTEXT>`` layout against a
reference computation of InternVL's published preprocessing. NOT tested here: loading, training or
inference with any real checkpoint (its code is not on this machine). The media of every family but
InternVL need the checkpoint's remote processor and the model's own embedding merge (ms-swift's
``_post_encode``), so their templates refuse rows with media in one line; see docs/multimodal.md.
"""

from __future__ import annotations

import dataclasses

from swiftk.api import TemplateMeta
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

GET_FUNCTION = "swiftk_multimodal.remote_templates:load_remote"
INTERNVL_CLS = "swiftk_multimodal.remote_templates:InternVLTemplate"
REMOTE_CLS = "swiftk_multimodal.remote_templates:RemoteCodeTemplate"

# -- the text forms (ms-swift's TemplateMeta subclasses) -------------------------------------------------
IM = ["<|im_start|>", "<|im_end|>"]
CHATML = dict(
    system_prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
    prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
    chat_sep=["<|im_end|>\n"],
    suffix=["<|im_end|>"],
)
QWEN = dict(CHATML, stop_words=["<|endoftext|>", "<|im_end|>"], special_tokens=IM)  # QwenTemplateMeta
XCOMPOSER = dict(  # Xcomposer2TemplateMeta
    prefix=["<s>"],
    system_prefix=["<s>[UNUSED_TOKEN_146]system\n{{SYSTEM}}[UNUSED_TOKEN_145]\n"],
    prompt=["[UNUSED_TOKEN_146]user\n{{QUERY}}[UNUSED_TOKEN_145]\n[UNUSED_TOKEN_146]assistant\n"],
    chat_sep=["[UNUSED_TOKEN_145]\n"],
    suffix=["[UNUSED_TOKEN_145]"],
    stop_words=["<|im_end|>", "[UNUSED_TOKEN_145]"],
    special_tokens=["[UNUSED_TOKEN_146]", "[UNUSED_TOKEN_145]"],
)
PHI3 = dict(  # Phi3TemplateMeta (auto_add_bos)
    system_prefix=["<|system|>\n{{SYSTEM}}<|end|>\n"],
    prompt=["<|user|>\n{{QUERY}}<|end|>\n<|assistant|>\n"],
    chat_sep=["<|end|>\n"],
    suffix=["<|end|>"],
    stop_words=["<|end|>"],
    special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
)
LLAMA3 = dict(  # Llama3TemplateMeta
    prefix=["<|begin_of_text|>"],
    system_prefix=["<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>"],
    prompt=[
        "<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    ],
    chat_sep=["<|eot_id|>"],
    suffix=["<|eot_id|>"],
    stop_words=["<|eot_id|>"],
    special_tokens=["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
)

INTERNVL_SYSTEM = "You are an AI assistant whose name is InternLM (书生·浦语)."
INTERNVL2_SYSTEM = (
    "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。"
)
INTERNVL2_5_SYSTEM = (
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
)
QWEN_SYSTEM = "You are a helpful assistant."
QWEN2_5_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
XCOMPOSER2_SYSTEM = (
    "You are an AI assistant whose name is InternLM-XComposer (浦语·灵笔).\n"
    "- InternLM-XComposer (浦语·灵笔) is a conversational language model that is developed by "
    "Shanghai AI Laboratory (上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM-XComposer (浦语·灵笔) can understand and communicate fluently in the language chosen "
    "by the user such as English and 中文."
)
XCOMPOSER2_5_SYSTEM = (
    "You are an AI assistant whose name is InternLM-XComposer (浦语·灵笔).\n"
    "- InternLM-XComposer (浦语·灵笔) is a multi-modality conversational language model that is developed by "
    "Shanghai AI Laboratory (上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM-XComposer (浦语·灵笔) can understand and communicate fluently in the language chosen "
    "by the user such as English and 中文.\n"
    "- InternLM-XComposer (浦语·灵笔) is capable of comprehending and articulating responses effectively "
    "based on the provided image."
)
OMNI_SYSTEM = (
    "You are a helpful language and speech assistant. You are able to understand the speech content that the "
    "user provides, and assist the user with a variety of tasks using natural language."
)

#: the page's environment parameters each template reads -> ms-swift's default (None: the processor's own)
INTERNVL_ENV = {"MAX_NUM": 12, "INPUT_SIZE": 448}
INTERNVL2_ENV = {**INTERNVL_ENV, "VIDEO_MAX_NUM": 1, "VIDEO_SEGMENTS": 8}
MINICPMV_ENV = {"MAX_SLICE_NUMS": None, "VIDEO_MAX_SLICE_NUMS": 1, "MAX_NUM_FRAMES": 64}
ENV_DEFAULTS = {
    "internvl": INTERNVL_ENV,
    "internvl2": INTERNVL2_ENV,
    "internvl2_5": INTERNVL2_ENV,
    "minicpmv2_6": MINICPMV_ENV,
    "minicpmo2_6": MINICPMV_ENV,
    "ovis1_6": {"MAX_PARTITION": 9},
    "ovis2": {"MAX_PARTITION": 9, "NFRAMES": 12},
    "mplug_owl3": {"MAX_NUM_FRAMES": 16},
    "ixcomposer2": {},  # version v2: no HD transform, HD_NUM unread
    "xcomposer2_4khd": {"HD_NUM": 55},
    "xcomposer2_5": {"HD_NUM": None},  # None: 24 for one image, 6 for several
    "cogvlm2_video": {"NUM_FRAMES": 24},
    "phi3_vision": {},  # NUM_CROPS is read by the model's loader (the processor's num_crops)
    "llama3_1_omni": {"N_MELS": 128},
}
#: parameters read when loading (model type -> default)
LOAD_ENV = {"phi3_vision": {"NUM_CROPS": 4}, "minicpmo2_6": {"INIT_TTS": False, "INIT_AUDIO": False}}

#: how each template's media become tokens (ms-swift's), for the docs and the refusal
MEDIA = {
    "minicpmv2_6": "the remote processor slices each image (get_slice_image_placeholder) into <image>/<slice> "
    "blocks of <unk> tokens; the model merges them (get_vllm_embedding)",
    "minicpmo2_6": "as minicpmv2_6",
    "ovis1_6": "-200 per image, replaced by the visual tokenizer's preprocess_image placeholders; merge_multimodal",
    "ovis2": "as ovis1_6; a video is NFRAMES frames read with moviepy",
    "mplug_owl3": "the remote image processor's cut_prompt_template (<|image|> per crop); media_offset",
    "ixcomposer2": "</s> per image; the model's img2emb and im_mask",
    "xcomposer2_4khd": "</s> per image, HD_transform(hd_num=HD_NUM); the model's img2emb and im_mask",
    "xcomposer2_5": "</s> per image or video, Image_transform / Video_transform (HD_NUM); img2emb, im_mask",
    "cogvlm2_video": "the model's build_conversation_input_ids (NUM_FRAMES frames, decord); token_type_ids",
    "phi3_vision": "<|image|><s>\\n per image, <|image|> replaced by num_img_tokens negative ids "
    "(the remote image processor, NUM_CROPS)",
    "llama3_1_omni": "-200 per audio, whisper log-mel (N_MELS); prepare_inputs_labels_for_speech_and_text",
}


def _template(name: str, form: dict, *, system=None, cls: str = REMOTE_CLS, bos: bool = False, **extra) -> TemplateMeta:
    form = dict(form)
    special = form.pop("special_tokens", [])
    stop = form.pop("stop_words", [])
    meta = template_meta(
        name,
        default_system=system,
        template_cls=cls,
        stop_words=stop,
        special_tokens=special,
        env={k: None for k in ENV_DEFAULTS.get(name, {})},
        env_defaults=dict(ENV_DEFAULTS.get(name, {})),
        media=MEDIA.get(name, "InternVL tiles (INPUT_SIZE squares, at most MAX_NUM, plus a thumbnail), "
                              "256 <IMG_CONTEXT> per tile between <img> and </img>"),
        **form,
        **extra,
    )  # fmt: skip
    return dataclasses.replace(meta, auto_add_bos=bos)


_INTERNVL_SPECIAL = IM + ["<img>", "</img>", "<IMG_CONTEXT>"]
_INTERNVL = dict(CHATML, stop_words=["<|im_end|>"], special_tokens=_INTERNVL_SPECIAL)  # ChatmlTemplateMeta

TEMPLATES: list[TemplateMeta] = [
    _template("internvl", _INTERNVL, system=INTERNVL_SYSTEM, cls=INTERNVL_CLS, bos=True, internvl_version="1.5"),
    _template("internvl2", _INTERNVL, system=INTERNVL2_SYSTEM, cls=INTERNVL_CLS, bos=True, internvl_version="2"),
    _template("internvl2_5", _INTERNVL, system=INTERNVL2_5_SYSTEM, cls=INTERNVL_CLS, bos=True, internvl_version="2"),
    _template(
        "minicpmv2_6",
        QWEN,
        system=QWEN_SYSTEM,
        placeholders={"image": "(<image>./</image>)\n", "video": "(<image>./</image>)\n"},
    ),
    _template(
        "minicpmo2_6",
        QWEN,
        system=QWEN2_5_SYSTEM,
        placeholders={"image": "(<image>./</image>)\n", "video": "(<image>./</image>)\n"},
    ),
    _template(
        "ovis1_6",
        dict(
            prefix=["<bos>"],
            system_prefix=["<bos><start_of_turn>system\n{{SYSTEM}}<end_of_turn>\n"],
            prompt=["<start_of_turn>user\n{{QUERY}}<end_of_turn>\n<start_of_turn>model\n"],
            chat_sep=["<end_of_turn>\n"],
            suffix=["<end_of_turn>"],
            stop_words=["<end_of_turn>"],
            special_tokens=["<bos>", "<start_of_turn>", "<end_of_turn>"],
        ),
        placeholders={"image": "<image>\n"},
    ),
    _template("ovis2", QWEN, system=QWEN_SYSTEM, placeholders={"image": "<image>\n", "video": "<video>\n"}),
    _template(
        "mplug_owl3",  # mPlugOwl3TemplateMeta: the system block is written even when empty
        dict(
            QWEN,
            prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
            system_prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
        ),
        placeholders={"image": "<|image|>\n", "video": "<|image|>\n"},
    ),  # fmt: skip
    _template("ixcomposer2", XCOMPOSER, system=XCOMPOSER2_SYSTEM, placeholders={"image": "</s>", "video": "</s>"}),
    _template("xcomposer2_4khd", XCOMPOSER, system=XCOMPOSER2_5_SYSTEM, placeholders={"image": "</s>"}),
    _template("xcomposer2_5", XCOMPOSER, system=XCOMPOSER2_5_SYSTEM, placeholders={"image": "</s>", "video": "</s>"}),
    _template(
        "cogvlm2_video",  # CogVLMTemplateMeta: no system; the suffix is the EOS
        dict(
            prefix=[["bos_token_id"]],
            prompt=["Question: {{QUERY}} Answer:"],
            chat_sep=["\n"],
            suffix=[["eos_token_id"]],
        ),
        placeholders={"video": ""},
    ),  # fmt: skip
    _template("phi3_vision", PHI3, bos=True, placeholders={"image": "<|image|><s>\n"}),
    _template("llama3_1_omni", LLAMA3, system=OMNI_SYSTEM, placeholders={"audio": ""}),
]

_TAGS = ["multimodal"]
ARCH = {
    "internvl": {"language_model": ["language_model"], "vision_tower": ["vision_model"], "aligner": ["mlp1"]},
    "minicpmv": {"language_model": ["llm"], "vision_tower": ["vpm"], "aligner": ["resampler"]},
    "ovis": {"language_model": ["llm"], "vision_tower": ["visual_tokenizer"], "aligner": []},
    "mplug_owl3": {
        "language_model": ["language_model"],
        "vision_tower": ["vision_model"],
        "aligner": ["vision2text_model"],
    },
    "xcomposer": {"language_model": ["model"], "vision_tower": ["vit"], "aligner": ["vision_proj"]},
    "cogvlm": {"language_model": ["model.layers"], "vision_tower": ["model.vision"], "aligner": []},
    "phi3_vision": {
        "language_model": ["model.layers"],
        "vision_tower": ["model.vision_embed_tokens.img_processor"],
        "aligner": ["model.vision_embed_tokens.img_projection"],
    },
    "llama3_1_omni": {
        "language_model": ["model.layers"],
        "vision_tower": ["model.speech_encoder"],
        "aligner": ["model.speech_projector"],
        "generator": ["speech_generator"],
    },
}


def _model(model_type, template, archs, ids, pattern, arch, requires, tags, remote=None, **extra):
    meta = model_meta(
        model_type,
        template,
        archs,
        [(i, i) if isinstance(i, str) else i for i in ids],
        patterns=[pattern],
        is_multimodal=True,
        model_arch=ARCH[arch],
        requires=requires,
        tags=_TAGS + tags,
        trust_remote_code=True,
        remote=remote or {},
        load_env=LOAD_ENV.get(model_type, {}),
        **extra,
    )
    return dataclasses.replace(meta, get_function=GET_FUNCTION)


def _ids(prefix: str, names: list) -> list:
    return [f"{prefix}/{n}" for n in names]


_IVL = {"internvl": True}
MODELS = [
    _model(
        "internvl",
        "internvl",
        ["InternVLChatModel"],
        [
            "OpenGVLab/Mini-InternVL-Chat-2B-V1-5",
            ("AI-ModelScope/InternVL-Chat-V1-5", "OpenGVLab/InternVL-Chat-V1-5"),
            ("AI-ModelScope/InternVL-Chat-V1-5-int8", "OpenGVLab/InternVL-Chat-V1-5-int8"),
        ],
        r"internvl-chat.*v1-5",
        "internvl",
        ["transformers>=4.35", "timm"],
        ["vision"],
        remote=_IVL,
    ),
    _model(
        "internvl2",
        "internvl2",
        ["InternVLChatModel"],
        _ids("OpenGVLab", [f"InternVL2-{s}" for s in ("1B", "2B", "8B", "26B", "40B", "Llama3-76B")])
        + _ids("OpenGVLab", [f"InternVL2-{s}-AWQ" for s in ("2B", "8B", "26B", "40B", "Llama3-76B")])
        + ["OpenGVLab/InternVL2-8B-MPO"],
        r"internvl2(?![._]5)",
        "internvl",
        ["transformers>=4.36", "timm"],
        ["vision", "video"],
        remote=_IVL,
    ),
    _model(
        "internvl2_5",
        "internvl2_5",
        ["InternVLChatModel"],
        _ids("OpenGVLab", [f"InternVL2_5-{s}" for s in ("1B", "2B", "4B", "8B", "26B", "38B", "78B")])
        + _ids("OpenGVLab", [f"InternVL2_5-{s}-AWQ" for s in ("4B", "8B", "26B", "38B", "78B")])
        + _ids("OpenGVLab", [f"InternVL2_5-{s}-MPO" for s in ("1B", "2B", "4B", "8B", "26B", "38B", "78B")]),
        r"internvl2[._]5",
        "internvl",
        ["transformers>=4.36", "timm"],
        ["vision", "video"],
        remote=_IVL,
        arch_default=True,
    ),
    _model(
        "minicpmv2_6",
        "minicpmv2_6",
        ["MiniCPMV"],
        [("OpenBMB/MiniCPM-V-2_6", "openbmb/MiniCPM-V-2_6")],
        r"minicpm-v-2[._]6",
        "minicpmv",
        ["timm", "transformers>=4.36", "decord"],
        ["vision", "video"],
        remote={"processor": "auto_processor"},
    ),
    _model(
        "minicpmo2_6",
        "minicpmo2_6",
        ["MiniCPMO"],
        [("OpenBMB/MiniCPM-o-2_6", "openbmb/MiniCPM-o-2_6")],
        r"minicpm-o-2[._]6",
        "minicpmv",
        ["timm", "transformers>=4.36", "decord", "soundfile"],
        ["vision", "video", "omni", "audio"],
        remote={"processor": "auto_processor"},
        arch_default=True,
    ),
    _model(
        "ovis1_6",
        "ovis1_6",
        ["Ovis"],
        _ids("AIDC-AI", ["Ovis1.6-Gemma2-9B", "Ovis1.6-Gemma2-9B-GPTQ-Int4", "Ovis1.6-Gemma2-27B"]),
        r"ovis1\.6-gemma2",
        "ovis",
        ["transformers>=4.42"],
        ["vision"],
    ),
    _model(
        "ovis2",
        "ovis2",
        ["Ovis"],
        _ids("AIDC-AI", [f"Ovis2-{s}" for s in ("1B", "2B", "4B", "8B", "16B", "34B")]),
        r"ovis2",
        "ovis",
        ["transformers>=4.46.2", "moviepy<2"],
        ["vision"],
    ),
    _model(
        "mplug_owl3",
        "mplug_owl3",
        ["mPLUGOwl3Model"],
        [
            ("iic/mPLUG-Owl3-1B-241014", "mPLUG/mPLUG-Owl3-1B-241014"),
            ("iic/mPLUG-Owl3-2B-241014", "mPLUG/mPLUG-Owl3-2B-241014"),
            ("iic/mPLUG-Owl3-7B-240728", "mPLUG/mPLUG-Owl3-7B-240728"),
        ],
        r"mplug-owl3-(1b|2b|7b-240728)",
        "mplug_owl3",
        ["transformers>=4.36", "icecream", "decord"],
        ["vision", "video"],
        arch_default=True,
    ),
    _model(
        "xcomposer2_4khd",
        "ixcomposer2",  # ms-swift's choice (v3.2.2 and v3.9.3): the xcomposer2 template, not xcomposer2_4khd
        ["InternLM2ForCausalLM", "InternLMXComposer2ForCausalLM"],
        [("Shanghai_AI_Laboratory/internlm-xcomposer2-4khd-7b", "internlm/internlm-xcomposer2-4khd-7b")],
        r"xcomposer2-4khd",
        "xcomposer",
        [],
        ["vision"],
    ),
    _model(
        "xcomposer2_5",
        "xcomposer2_5",
        ["InternLMXComposer2ForCausalLM"],
        [
            ("Shanghai_AI_Laboratory/internlm-xcomposer2d5-7b", "internlm/internlm-xcomposer2d5-7b"),
            ("Shanghai_AI_Laboratory/internlm-xcomposer2d5-ol-7b:base", "internlm/internlm-xcomposer2d5-ol-7b:base"),
        ],
        r"xcomposer2d5",
        "xcomposer",
        ["decord"],
        ["vision"],
    ),
    _model(
        "cogvlm2_video",
        "cogvlm2_video",
        ["CogVLMVideoForCausalLM"],
        [("ZhipuAI/cogvlm2-video-llama3-chat", "THUDM/cogvlm2-video-llama3-chat")],
        r"cogvlm2-video",
        "cogvlm",
        ["decord", "pytorchvideo", "transformers>=4.42"],
        ["video"],
    ),
    _model(
        "phi3_vision",
        "phi3_vision",
        ["Phi3VForCausalLM"],
        [
            ("LLM-Research/Phi-3-vision-128k-instruct", "microsoft/Phi-3-vision-128k-instruct"),
            ("LLM-Research/Phi-3.5-vision-instruct", "microsoft/Phi-3.5-vision-instruct"),
        ],
        r"phi-3(\.5)?-vision",
        "phi3_vision",
        ["transformers>=4.36"],
        ["vision"],
        remote={"processor": "auto_processor"},
    ),
    _model(
        "llama3_1_omni",
        "llama3_1_omni",
        ["OmniSpeech2SLlamaForCausalLM"],
        ["ICTNLP/Llama-3.1-8B-Omni"],
        r"llama-3\.1-8b-omni",
        "llama3_1_omni",
        ["whisper", "openai-whisper"],
        ["audio"],
        remote={"needs_repo": "https://github.com/ictnlp/LLaMA-Omni"},
    ),
]
