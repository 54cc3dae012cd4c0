"""Random-init tiny Qwen2-Audio checkpoints (``python tiny_vlm.py qwen2_audio OUT``): a byte-level tokenizer with
the family's audio tokens and the chat template transformers' Qwen2AudioProcessor ships (``default_chat_template``),
a Whisper feature extractor cut to 2-second windows (so the audio tower sees 200 frames, not 3000), about 0.2M
parameters."""

from __future__ import annotations

from pathlib import Path

AUDIO_TOKENS = ["<|audio_bos|>", "<|AUDIO|>", "<|audio_eos|>"]
TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)


def build_qwen2_audio(model_type: str, folder: str, seed: int = 0) -> str:
    import torch
    from swiftk.testing.tiny import build_tiny_tokenizer
    from swiftk_models.model_types._build import QWEN_TOKENS
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tok = build_tiny_tokenizer(QWEN_TOKENS, AUDIO_TOKENS)
    # 2-second windows: 200 mel frames, so the tower's max_source_positions is 100 (after its stride-2 conv)
    extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=2)
    processor = Qwen2AudioProcessor(feature_extractor=extractor, tokenizer=tok)  # its default (official) template
    tok.chat_template = processor.chat_template
    config = Qwen2AudioConfig(
        audio_config=dict(
            d_model=32,
            encoder_layers=1,
            encoder_attention_heads=2,
            encoder_ffn_dim=64,
            num_mel_bins=128,
            max_source_positions=extractor.nb_max_frames // 2,
        ),
        text_config=dict(
            TEXT,
            model_type="qwen2",
            vocab_size=len(tok),
            max_position_embeddings=2048,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=None,
        ),
        audio_token_index=tok.convert_tokens_to_ids("<|AUDIO|>"),
    )
    torch.manual_seed(seed)
    model = Qwen2AudioForConditionalGeneration(config)
    model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id]
    model.generation_config.pad_token_id = tok.pad_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"qwen2_audio": build_qwen2_audio}
