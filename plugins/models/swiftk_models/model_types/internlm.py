"""InternLM 2, 2.5 (remote-code InternLM2ForCausalLM) and InternLM 3."""

from swiftk_models.model_types._build import model_meta, tiny, tiny_remote

TOKENS = {"bos": "<s>", "eos": "</s>", "unk": "<unk>", "extra": ["<|im_start|>", "<|im_end|>"]}

METAS = [
    model_meta(
        "internlm2",
        "internlm2",
        ["InternLM2ForCausalLM"],
        [
            ("Shanghai_AI_Laboratory/internlm2-chat-1_8b", "internlm/internlm2-chat-1_8b"),
            ("Shanghai_AI_Laboratory/internlm2-chat-7b", "internlm/internlm2-chat-7b"),
        ],
        patterns=[r"internlm2(?![._]5)"],
        arch_default=True,
        tiny=tiny_remote("internlm2", "InternLM2ForCausalLM", TOKENS),
    ),
    model_meta(
        "internlm2_5",
        "internlm2",
        ["InternLM2ForCausalLM"],
        [("Shanghai_AI_Laboratory/internlm2_5-7b-chat", "internlm/internlm2_5-7b-chat")],
        patterns=[r"internlm2[._]5"],
        tiny=tiny_remote("internlm2", "InternLM2ForCausalLM", TOKENS),
    ),
    model_meta(
        "internlm3",
        "internlm2",
        ["InternLM3ForCausalLM"],
        [("Shanghai_AI_Laboratory/internlm3-8b-instruct", "internlm/internlm3-8b-instruct")],
        patterns=[r"internlm3"],
        arch_default=True,
        tiny=tiny("internlm3", TOKENS),
    ),
]
