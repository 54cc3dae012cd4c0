"""Qwen family: Qwen (1), Qwen1.5/Qwen2, Qwen2.5, QwQ, Qwen3 and Qwen3-MoE."""

from swiftk_models.model_types._build import QWEN_TOKENS, model_meta, tiny, tiny_remote

QWEN2 = "Qwen2ForCausalLM"

METAS = [
    model_meta(
        "qwen",
        "qwen",
        ["QWenLMHeadModel"],
        [("Qwen/Qwen-1_8B-Chat", "Qwen/Qwen-1_8B-Chat"), ("Qwen/Qwen-7B-Chat", "Qwen/Qwen-7B-Chat")],
        patterns=[r"^qwen-"],
        arch_default=True,
        requires=["tiktoken"],
        tiny=tiny_remote("qwen", "QWenLMHeadModel", QWEN_TOKENS),
    ),
    model_meta(
        "qwen2",
        "qwen",
        [QWEN2],
        [
            ("Qwen/Qwen2-0.5B-Instruct", "Qwen/Qwen2-0.5B-Instruct"),
            ("Qwen/Qwen2-7B-Instruct", "Qwen/Qwen2-7B-Instruct"),
            ("Qwen/Qwen1.5-0.5B-Chat", "Qwen/Qwen1.5-0.5B-Chat"),
        ],
        patterns=[r"qwen2(?![._]5)", r"qwen1[._]5"],
        arch_default=True,
        tiny=tiny("qwen2", QWEN_TOKENS),
    ),
    model_meta(
        "qwen2_5",
        "qwen2_5",
        [QWEN2],
        [
            ("Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct"),
            ("Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct"),
            ("Qwen/Qwen2.5-Coder-7B-Instruct", "Qwen/Qwen2.5-Coder-7B-Instruct"),
        ],
        patterns=[r"qwen2[._]5"],
        tiny=tiny("qwen2", QWEN_TOKENS),
    ),
    model_meta(
        "qwq",
        "qwq",
        [QWEN2],
        [("Qwen/QwQ-32B", "Qwen/QwQ-32B"), ("Qwen/QwQ-32B-Preview", "Qwen/QwQ-32B-Preview")],
        patterns=[r"qwq"],
        tiny=tiny("qwen2", QWEN_TOKENS),
    ),
    model_meta(
        "qwen3",
        "qwen3",
        ["Qwen3ForCausalLM"],
        [("Qwen/Qwen3-0.6B", "Qwen/Qwen3-0.6B"), ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B")],
        patterns=[r"qwen3"],
        arch_default=True,
        tiny=tiny("qwen3", QWEN_TOKENS),
    ),
    model_meta(
        "qwen3_moe",
        "qwen3",
        ["Qwen3MoeForCausalLM"],
        [("Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B")],
        patterns=[r"qwen3.*a\d+b"],
        arch_default=True,
        tiny=tiny(
            "qwen3_moe",
            QWEN_TOKENS,
            num_experts=4,
            num_experts_per_tok=2,
            moe_intermediate_size=32,
            decoder_sparse_step=1,
            mlp_only_layers=[],
        ),
    ),
]
