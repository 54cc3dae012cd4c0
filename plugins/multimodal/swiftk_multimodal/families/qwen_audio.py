"""Qwen2-Audio (``Qwen2AudioForConditionalGeneration``): ChatML, each ``<audio>`` tag rendered as ms-swift's
``Audio N: <|audio_bos|><|AUDIO|><|audio_eos|>\\n`` (numbered over the row's audios; without the ``Audio N:``
prefix under ``--use_chat_template false``), the ``<|AUDIO|>`` placeholder expanded by the family's processor,
which makes ``input_features`` and ``feature_attention_mask`` from the Whisper feature extractor.

Environment: ``SAMPLING_RATE`` (ms-swift's; the rate audio is loaded at). The Whisper feature extractor of the
checkpoints accepts only its own rate (16000) and rejects any other, as it does in ms-swift: a different value
is refused when the template is made.

Tested on a tiny random checkpoint (tests/test_audio.py): template parity with the processor and the chat
template transformers ships for the family, LoRA train/merge with identical logits, infer and deploy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from swiftk.api import TemplateMeta
from swiftk_models.model_types._build import model_meta
from swiftk_models.templates._build import template_meta

from swiftk_multimodal.families.qwen_vl import CHATML
from swiftk_multimodal.template import ProcessorTemplate

AUDIO_PLACEHOLDER = "<|audio_bos|><|AUDIO|><|audio_eos|>\n"
#: the page's environment parameter -> None: read by the template, not a processor keyword
QWEN_AUDIO_ENV = {"SAMPLING_RATE": None}


class Qwen2AudioTemplate(ProcessorTemplate):
    """ms-swift's Qwen2AudioTemplate: numbered audio placeholders (``Audio 1: ...``)."""

    def __init__(self, processor: Any, template_meta: Any = None, **kwargs: Any):
        super().__init__(processor, template_meta, **kwargs)
        self._audio_index = 0
        extractor = getattr(self.hf_processor, "feature_extractor", None)
        if extractor is not None:
            from swiftk.api import get_model_arg

            rate = get_model_arg("SAMPLING_RATE", None, type=int)
            if rate is not None and rate != extractor.sampling_rate:
                raise ValueError(
                    f"SAMPLING_RATE={rate}: the model's feature extractor takes audio at {extractor.sampling_rate} Hz "
                    f"only (as in ms-swift, where it rejects any other rate)"
                )

    def encode(self, row: dict, add_generation_prompt: bool = False) -> dict:
        self._audio_index = 0
        return super().encode(row, add_generation_prompt)

    def _with_placeholders(self, seg: Any) -> Any:
        if not seg.is_text or "<audio>" not in seg.content:
            return super()._with_placeholders(seg)
        numbered = self.mode != "pt" and self.use_chat_template
        parts = []
        for piece in seg.content.split("<audio>"):
            if parts:
                self._audio_index += 1
                parts.append(f"Audio {self._audio_index}: {AUDIO_PLACEHOLDER}" if numbered else AUDIO_PLACEHOLDER)
            parts.append(piece)
        return super()._with_placeholders(dataclasses.replace(seg, content="".join(parts)))


def load_qwen2_audio(model_dir: str, model_info: Any, model_kwargs: dict, load_model: bool = True, **kwargs: Any):
    """``(model or None, processor)``: not an image-text-to-text model, so its own class."""
    from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration

    from swiftk_multimodal.loader import processor_kwargs

    processor = AutoProcessor.from_pretrained(model_dir, **processor_kwargs(model_info))
    if not load_model:
        return None, processor
    return Qwen2AudioForConditionalGeneration.from_pretrained(model_dir, **model_kwargs), processor


TEMPLATES: list[TemplateMeta] = [
    template_meta(
        "qwen2_audio",
        default_system="You are a helpful assistant.",
        template_cls="swiftk_multimodal.families.qwen_audio:Qwen2AudioTemplate",
        placeholders={"audio": "<audio>"},  # rendered by Qwen2AudioTemplate (numbered)
        env=QWEN_AUDIO_ENV,
        **CHATML,
    )
]

MODELS = [
    dataclasses.replace(
        model_meta(
            "qwen2_audio",
            "qwen2_audio",
            ["Qwen2AudioForConditionalGeneration"],
            [
                ("Qwen/Qwen2-Audio-7B-Instruct", "Qwen/Qwen2-Audio-7B-Instruct"),
                ("Qwen/Qwen2-Audio-7B", "Qwen/Qwen2-Audio-7B"),
            ],
            patterns=[r"qwen2-audio"],
            arch_default=True,
            is_multimodal=True,
            # where --freeze_llm/vit/aligner find each part (--freeze_vit: the audio tower)
            model_arch={
                "language_model": ["model.language_model"],
                "vision_tower": ["model.audio_tower"],
                "aligner": ["model.multi_modal_projector"],
            },
            # ms-swift 3.2: >=4.45,<4.49 (its template left the <|AUDIO|> expansion to the model); here the processor
            # expands it, which it does from 4.49 (transformers PR #35534). No librosa: media.py reads WAV itself.
            requires=["transformers>=4.49"],
            tags=["multimodal", "audio"],
        ),
        get_function="swiftk_multimodal.families.qwen_audio:load_qwen2_audio",
    )
]
