"""Random-init tiny Gemma 3 (vision) and PaliGemma checkpoints (``python tiny_vlm.py gemma3_vision OUT``): a
byte-level tokenizer with the family's special tokens, SigLIP towers on 56x56 pictures (16 patches, 4 image
tokens), about 0.2M parameters. Gemma 3 carries the official chat template of the google/gemma-3-*-it
checkpoints; PaliGemma has none (it is not a chat model: its processor builds the prompt itself)."""

from __future__ import annotations

from pathlib import Path

GEMMA_TOKENS = {"bos": "<bos>", "eos": "<eos>", "pad": "<pad>", "extra": ["<start_of_turn>", "<end_of_turn>"]}
GEMMA3_IMAGE_TOKENS = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]
TEXT = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=2048,
)
VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=56, patch_size=14
)


def _save(model, processor, tok, folder: str, eos: list) -> str:
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def build_gemma3_vision(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    from swiftk.testing.tiny import build_tiny_tokenizer
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessor, Gemma3Processor

    from swiftk_multimodal.families.gemma import GEMMA3_CHAT_TEMPLATE

    tok = build_tiny_tokenizer(GEMMA_TOKENS, GEMMA3_IMAGE_TOKENS, chat_template=GEMMA3_CHAT_TEMPLATE)
    # the named tokens Gemma3Processor reads (tokenizer.boi_token, ...), saved in tokenizer_config.json as the
    # checkpoints' are
    tok._set_model_specific_special_tokens(
        {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    )
    ids = {t: tok.convert_tokens_to_ids(t) for t in GEMMA3_IMAGE_TOKENS}
    image_processor = Gemma3ImageProcessor(size={"height": 56, "width": 56})
    processor = Gemma3Processor(
        image_processor=image_processor, tokenizer=tok, chat_template=GEMMA3_CHAT_TEMPLATE, image_seq_length=4
    )
    config = Gemma3Config(
        text_config=dict(
            TEXT,
            vocab_size=len(tok),
            query_pre_attn_scalar=16,
            sliding_window=64,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
        ),
        vision_config=dict(VISION, model_type="siglip_vision_model"),
        mm_tokens_per_image=4,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    return _save(model, processor, tok, folder, [tok.eos_token_id, tok.convert_tokens_to_ids("<end_of_turn>")])


def build_paligemma(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    from swiftk.testing.tiny import build_tiny_tokenizer
    from transformers import (
        PaliGemmaConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
    )

    tok = build_tiny_tokenizer(GEMMA_TOKENS, ["<image>"])
    image_processor = SiglipImageProcessor(size={"height": 56, "width": 56}, image_seq_length=16)
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tok)  # adds <loc>/<seg> tokens
    config = PaliGemmaConfig(
        text_config=dict(
            TEXT,
            model_type="gemma2",
            vocab_size=len(tok),
            query_pre_attn_scalar=16,
            sliding_window=64,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.bos_token_id,
        ),
        vision_config=dict(VISION, model_type="siglip_vision_model", projection_dim=64),
        projection_dim=64,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(seed)
    model = PaliGemmaForConditionalGeneration(config)
    return _save(model, processor, tok, folder, [tok.eos_token_id])


BUILDERS = {"gemma3_vision": build_gemma3_vision, "paligemma": build_paligemma}
