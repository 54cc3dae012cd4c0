"""Phi-3 / Phi-3.5 and Phi-4 (both Phi3ForCausalLM)."""

from swiftk_models.model_types._build import model_meta, tiny

METAS = [
    model_meta(
        "phi3",
        "phi3",
        ["Phi3ForCausalLM"],
        [
            ("LLM-Research/Phi-3-mini-4k-instruct", "microsoft/Phi-3-mini-4k-instruct"),
            ("LLM-Research/Phi-3.5-mini-instruct", "microsoft/Phi-3.5-mini-instruct"),
        ],
        patterns=[r"phi-?3"],
        arch_default=True,
        tiny=tiny(
            "phi3",
            {
                "bos": "<s>",
                "eos": "<|endoftext|>",
                "unk": "<unk>",
                "extra": ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
            },
        ),
    ),
    model_meta(
        "phi4",
        "phi4",
        ["Phi3ForCausalLM"],
        [("LLM-Research/phi-4", "microsoft/phi-4")],
        patterns=[r"phi-?4"],
        tiny=tiny(
            "phi3",
            {"eos": "<|im_end|>", "pad": "<|endoftext|>", "extra": ["<|im_start|>", "<|im_sep|>", "<|endoftext|>"]},
        ),
    ),
]
