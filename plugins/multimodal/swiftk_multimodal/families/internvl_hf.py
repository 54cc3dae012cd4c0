"""InternVL in its transformers-native form (ms-swift's ``internvl_hf``, v3.9.3: ``InternVLForConditionalGeneration``,
the ``OpenGVLab/InternVL3-*-hf`` and ``InternVL3_5-*-HF`` checkpoints; ``internvl_gpt_hf``, the GPT-OSS one, is
not registered here).

ChatML with no default system prompt; an image is ``<IMG_CONTEXT>\\n`` (the checkpoints' chat template), which
the processor expands to ``<img>`` + ``<IMG_CONTEXT>`` x image_seq_length x tiles + ``</img>``; a video is
``<video>\\n``, expanded per frame (``Frame1: <img>...</img>``).

Environment parameters: ms-swift's ``internvl_hf`` reads none (its template skips InternVL's ``init_env_args``:
the processor's own settings apply). We wire ``MAX_NUM`` to the image processor's ``max_patches`` (the largest
number of 448-pixel tiles an image is cut into, as the original InternVL's ``MAX_NUM``) and ``VIDEO_SEGMENTS``
to the video processor's ``num_frames`` (frames sampled from a video, with ``do_sample_frames``). ``INPUT_SIZE``
cannot be wired: the tile size is the vision tower's ``image_size`` (448 for these checkpoints), fixed by the
weights. Tested on a tiny checkpoint: images (every check), ``MAX_NUM``, ``VIDEO_SEGMENTS`` on a row's list of frames."""

from __future__ import annotations

from typing import Any

from swiftk.api import TemplateMeta
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

from swiftk_multimodal.families.idefics import ExpandingTemplate
from swiftk_multimodal.families.qwen_vl import CHATML


class InternvlHfTemplate(ExpandingTemplate):
    """``VIDEO_SEGMENTS`` (the video processor's ``num_frames``) samples that many frames of each video."""

    def __init__(self, processor: Any, template_meta: Any = None, **kwargs: Any):
        super().__init__(processor, template_meta, **kwargs)
        video = getattr(self.hf_processor, "video_processor", None)
        if video is not None and getattr(video, "num_frames", None):
            video.do_sample_frames = True


#: ms-swift-named environment parameter -> the processor keyword it sets
INTERNVL_HF_ENV = {"MAX_NUM": "max_patches", "VIDEO_SEGMENTS": "num_frames", "INPUT_SIZE": None}

#: the chat template of the -hf checkpoints (transformers' convert_internvl_weights_to_hf.py writes it)
INTERNVL_HF_CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{'<|im_start|>assistant\n' }}{% endif %}"
)

TEMPLATES: list[TemplateMeta] = [
    template_meta(
        "internvl_hf",
        template_cls="swiftk_multimodal.families.internvl_hf:InternvlHfTemplate",
        placeholders={"image": "<IMG_CONTEXT>\n", "video": "<video>\n"},
        env=INTERNVL_HF_ENV,
        **CHATML,
    ),
]

INTERNVL_HF_ARCH = {
    "language_model": ["model.language_model"],
    "vision_tower": ["model.vision_tower"],
    "aligner": ["model.multi_modal_projector"],
}

_IDS = ["1B", "2B", "8B", "9B", "14B", "38B", "78B"]
_IDS_3_5 = ["1B", "2B", "4B", "8B", "14B", "38B", "30B-A3B", "241B-A28B"]

MODELS: list[Any] = [
    model_meta(
        "internvl_hf",
        "internvl_hf",
        ["InternVLForConditionalGeneration"],
        [(f"OpenGVLab/InternVL3-{s}-hf", f"OpenGVLab/InternVL3-{s}-hf") for s in _IDS]
        + [(f"OpenGVLab/InternVL3_5-{s}-HF", f"OpenGVLab/InternVL3_5-{s}-HF") for s in _IDS_3_5],
        patterns=[r"internvl.*-hf"],
        arch_default=True,
        is_multimodal=True,
        model_arch=INTERNVL_HF_ARCH,
        requires=["transformers>=4.52.1", "torchvision"],
        tags=["multimodal", "vision", "video"],
    ),
]
