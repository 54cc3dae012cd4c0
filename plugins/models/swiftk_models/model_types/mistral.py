"""Mistral and Mixtral."""

from swiftk_models.model_types._build import LLAMA2_TOKENS, model_meta, tiny

METAS = [
    model_meta(
        "mistral",
        "mistral",
        ["MistralForCausalLM"],
        [
            ("AI-ModelScope/Mistral-7B-Instruct-v0.2", "mistralai/Mistral-7B-Instruct-v0.2"),
            ("LLM-Research/Mistral-7B-Instruct-v0.3", "mistralai/Mistral-7B-Instruct-v0.3"),
        ],
        patterns=[r"mistral"],
        arch_default=True,
        tiny=tiny("mistral", LLAMA2_TOKENS),
    ),
    model_meta(
        "mixtral",
        "mistral",
        ["MixtralForCausalLM"],
        [("AI-ModelScope/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1")],
        patterns=[r"mixtral"],
        arch_default=True,
        tiny=tiny("mixtral", LLAMA2_TOKENS, num_local_experts=4, num_experts_per_tok=2),
    ),
]
