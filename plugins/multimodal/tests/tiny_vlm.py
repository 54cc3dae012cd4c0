"""Random-init tiny vision-language checkpoints, built offline from the families' transformers config classes
(no download): ``python tiny_vlm.py qwen2_5_vl OUT``. About 0.2M parameters each, a byte-level tokenizer
with the family's special tokens and its official chat template, and the family's own processor (images
resized to at most 56x56 pixels, so each is a handful of tokens)."""

from __future__ import annotations

import sys
from pathlib import Path

QWEN_VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def build_qwen_vl(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    import transformers
    from swiftk.testing.tiny import build_tiny_tokenizer
    from swiftk_models.model_types._build import QWEN_TOKENS

    from swiftk_multimodal.families.qwen_vl import QWEN2_VL_CHAT_TEMPLATE

    names = {"qwen2_vl": "Qwen2VL", "qwen2_5_vl": "Qwen2_5_VL"}[model_type]
    tok = build_tiny_tokenizer(QWEN_TOKENS, QWEN_VISION_TOKENS, chat_template=QWEN2_VL_CHAT_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_VISION_TOKENS}
    from transformers import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    pixels = dict(min_pixels=28 * 28, max_pixels=56 * 56)
    processor = getattr(transformers, f"{names}Processor")(
        image_processor=Qwen2VLImageProcessor(**pixels),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(**pixels),
        chat_template=QWEN2_VL_CHAT_TEMPLATE,
    )
    if model_type == "qwen2_5_vl":  # hidden_size: the tower's; out_hidden_size: the merger's, the LLM's
        vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64)
        vision.update(fullatt_block_indexes=[1])
    else:  # embed_dim: the tower's; hidden_size: the merger's output, the LLM's
        vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2)
    config = getattr(transformers, f"{names}Config")(
        text_config=dict(
            TEXT,
            vocab_size=len(tok),
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
            max_position_embeddings=2048,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=None,
        ),
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = getattr(transformers, f"{names}ForConditionalGeneration")(config)
    model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"qwen2_vl": build_qwen_vl, "qwen2_5_vl": build_qwen_vl}
#: the other family groups' builders: module ``tiny_<group>.py`` beside this one, with its own ``BUILDERS``
GROUPS = ["tiny_llava", "tiny_audio", "tiny_idefics", "tiny_gemma", "tiny_mllama", "tiny_internvl"]


def builders() -> dict:
    import importlib

    found = dict(BUILDERS)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for group in GROUPS:
        try:
            module = importlib.import_module(group)
        except ModuleNotFoundError as exc:
            if exc.name != group:
                raise
            continue
        found.update(module.BUILDERS)
    return found


def build(model_type: str, folder: str) -> str:
    return builders()[model_type](model_type, folder)


if __name__ == "__main__":
    print(build(sys.argv[1], sys.argv[2]))
