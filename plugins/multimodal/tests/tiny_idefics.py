"""A tiny random Idefics3 checkpoint (``python tiny_vlm.py idefics3 OUT``): a 56-pixel vision tower of 14-pixel
patches (4 image tokens a tile after the pixel shuffle), image splitting on (tiles of 56 pixels, images at most
112 pixels a side), a byte-level tokenizer with Idefics3's special tokens and its official chat template."""

from __future__ import annotations

from pathlib import Path

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
IDEFICS3_TOKENS = {"bos": "<|begin_of_text|>", "eos": "<end_of_utterance>", "pad": "<|end_of_text|>"}
IMAGE_TOKENS = ["<fake_token_around_image>", "<image>", "<global-img>"] + [
    f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)
]


def build_idefics3(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    from swiftk.testing.tiny import build_tiny_tokenizer
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration, Idefics3ImageProcessor, Idefics3Processor

    from swiftk_multimodal.families.idefics import IDEFICS3_CHAT_TEMPLATE

    tok = build_tiny_tokenizer(IDEFICS3_TOKENS, IMAGE_TOKENS, chat_template=IDEFICS3_CHAT_TEMPLATE)
    images = Idefics3ImageProcessor(size={"longest_edge": 112}, max_image_size={"longest_edge": 56})
    processor = Idefics3Processor(
        image_processor=images, tokenizer=tok, image_seq_len=4, chat_template=IDEFICS3_CHAT_TEMPLATE
    )
    config = Idefics3Config(
        text_config=dict(
            TEXT,
            model_type="llama",
            vocab_size=len(tok),
            max_position_embeddings=2048,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        ),
        vision_config=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=56,
            patch_size=14,
        ),
        scale_factor=2,
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Idefics3ForConditionalGeneration(config)
    model.generation_config.eos_token_id = [tok.eos_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"idefics3": build_idefics3}
