"""A tiny random InternVL (transformers-native, ``-hf``) checkpoint (``python tiny_vlm.py internvl_hf OUT``): tiles
of 56 pixels (16 patches of 14, 4 image tokens after the pixel shuffle), at most 4 tiles and a thumbnail an
image, a Qwen2 LLM, a byte-level tokenizer with InternVL's image tokens and the -hf chat template."""

from __future__ import annotations

from pathlib import Path

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
IMAGE_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}


def build_internvl_hf(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    from swiftk.testing.tiny import build_tiny_tokenizer
    from swiftk_models.model_types._build import QWEN_TOKENS
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLForConditionalGeneration,
        InternVLProcessor,
        InternVLVideoProcessor,
        PreTrainedTokenizerFast,
    )

    from swiftk_multimodal.families.internvl_hf import INTERNVL_HF_CHAT_TEMPLATE

    base = build_tiny_tokenizer(QWEN_TOKENS, list(IMAGE_TOKENS.values()), chat_template=INTERNVL_HF_CHAT_TEMPLATE)
    # the -hf tokenizers name their image tokens (tokenizer.context_image_token, ...), which the processor reads
    tok = PreTrainedTokenizerFast(
        tokenizer_object=base.backend_tokenizer,
        eos_token=base.eos_token,
        pad_token=base.pad_token,
        extra_special_tokens=IMAGE_TOKENS,
        chat_template=INTERNVL_HF_CHAT_TEMPLATE,
    )
    size = {"height": 56, "width": 56}
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size=size, crop_to_patches=True, max_patches=4, min_patches=1),
        tokenizer=tok,
        video_processor=InternVLVideoProcessor(size=size),
        image_seq_length=4,
        chat_template=INTERNVL_HF_CHAT_TEMPLATE,
    )
    config = InternVLConfig(
        text_config=dict(
            TEXT,
            model_type="qwen2",
            vocab_size=len(tok),
            max_position_embeddings=2048,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=None,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=[56, 56],
            patch_size=[14, 14],
        ),
        image_token_id=tok.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=4,
        downsample_ratio=0.5,
    )
    torch.manual_seed(seed)
    model = InternVLForConditionalGeneration(config)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.pad_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"internvl_hf": build_internvl_hf}
