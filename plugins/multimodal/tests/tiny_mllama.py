"""A tiny random Llama 3.2 Vision checkpoint (``python tiny_vlm.py llama3_2_vision OUT``): tiles of 28 pixels
(4 patches of 14), up to 4 tiles an image, a 3-layer LLM whose middle layer is a cross-attention layer, a
byte-level tokenizer with Llama 3's special tokens and ``<|image|>``, and the official chat template."""

from __future__ import annotations

from pathlib import Path

MLLAMA_TOKENS = {
    "bos": "<|begin_of_text|>",
    "eos": "<|eot_id|>",
    "pad": "<|finetune_right_pad_id|>",
    "extra": ["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|python_tag|>"],
}


def build_mllama(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    from swiftk.testing.tiny import build_tiny_tokenizer
    from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaImageProcessor, MllamaProcessor

    from swiftk_multimodal.families.mllama import MLLAMA_CHAT_TEMPLATE

    tok = build_tiny_tokenizer(MLLAMA_TOKENS, ["<|image|>"], chat_template=MLLAMA_CHAT_TEMPLATE)
    images = MllamaImageProcessor(size={"height": 28, "width": 28}, max_image_tiles=4)
    processor = MllamaProcessor(image_processor=images, tokenizer=tok, chat_template=MLLAMA_CHAT_TEMPLATE)
    config = MllamaConfig(
        text_config=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            cross_attention_layers=[1],
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
            num_global_layers=1,
            attention_heads=2,
            image_size=28,
            patch_size=14,
            max_num_tiles=4,
            intermediate_layers_indices=[0, 1],
            vision_output_dim=96,  # hidden_size * (1 + len(intermediate_layers_indices))
        ),
        image_token_index=tok.convert_tokens_to_ids("<|image|>"),
    )
    torch.manual_seed(seed)
    model = MllamaForConditionalGeneration(config)
    model.generation_config.eos_token_id = [tok.eos_token_id, tok.convert_tokens_to_ids("<|end_of_text|>")]
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = tok.bos_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"llama3_2_vision": build_mllama}
