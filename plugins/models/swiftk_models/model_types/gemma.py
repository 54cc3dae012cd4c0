"""Gemma, Gemma 2 and Gemma 3 (the text model; the 4B+ checkpoints load through the same class map)."""

from swiftk_models.model_types._build import model_meta, tiny

TOKENS = {"bos": "<bos>", "eos": "<eos>", "pad": "<pad>", "extra": ["<start_of_turn>", "<end_of_turn>"]}
GEMMA = dict(head_dim=8)

METAS = [
    model_meta(
        "gemma",
        "gemma",
        ["GemmaForCausalLM"],
        [("AI-ModelScope/gemma-2b-it", "google/gemma-2b-it"), ("AI-ModelScope/gemma-7b-it", "google/gemma-7b-it")],
        patterns=[r"gemma-\d"],
        arch_default=True,
        tiny=tiny("gemma", TOKENS, **GEMMA),
    ),
    model_meta(
        "gemma2",
        "gemma",
        ["Gemma2ForCausalLM"],
        [
            ("LLM-Research/gemma-2-2b-it", "google/gemma-2-2b-it"),
            ("LLM-Research/gemma-2-9b-it", "google/gemma-2-9b-it"),
        ],
        patterns=[r"gemma-?2"],
        arch_default=True,
        tiny=tiny("gemma2", TOKENS, query_pre_attn_scalar=8, sliding_window=64, **GEMMA),
    ),
    model_meta(
        "gemma3",
        "gemma3",
        ["Gemma3ForCausalLM"],
        [
            ("LLM-Research/gemma-3-1b-it", "google/gemma-3-1b-it"),
        ],
        patterns=[r"gemma-?3"],
        arch_default=True,
        tiny=tiny("gemma3_text", TOKENS, query_pre_attn_scalar=8, sliding_window=64, **GEMMA),
    ),
]
