"""DeepSeek family: deepseek-llm, V2 (and V2.5), V3, R1 and the R1 distills (Qwen and Llama)."""

from swiftk_models.model_types._build import DEEPSEEK_TOKENS, model_meta, tiny

MOE = dict(
    n_routed_experts=4,
    n_shared_experts=1,
    num_experts_per_tok=2,
    moe_intermediate_size=32,
    first_k_dense_replace=1,
    n_group=1,
    topk_group=1,
    kv_lora_rank=16,
    qk_nope_head_dim=8,
    qk_rope_head_dim=8,
    v_head_dim=8,
    num_key_value_heads=4,
)  # MLA: as many key/value heads as query heads

METAS = [
    model_meta(
        "deepseek",
        "deepseek",
        ["LlamaForCausalLM"],
        [("deepseek-ai/deepseek-llm-7b-chat", "deepseek-ai/deepseek-llm-7b-chat")],
        patterns=[r"deepseek-llm"],
        tiny=tiny("llama", DEEPSEEK_TOKENS),
    ),
    model_meta(
        "deepseek_v2",
        "deepseek_v2_5",
        ["DeepseekV2ForCausalLM"],
        [
            ("deepseek-ai/DeepSeek-V2-Lite-Chat", "deepseek-ai/DeepSeek-V2-Lite-Chat"),
            ("deepseek-ai/DeepSeek-V2.5", "deepseek-ai/DeepSeek-V2.5"),
        ],
        patterns=[r"deepseek-v2"],
        arch_default=True,
        tiny=tiny("deepseek_v2", DEEPSEEK_TOKENS, q_lora_rank=None, **MOE),
    ),
    model_meta(
        "deepseek_v3",
        "deepseek_v2_5",
        ["DeepseekV3ForCausalLM"],
        [("deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-V3")],
        patterns=[r"deepseek-v3"],
        arch_default=True,
        tiny=tiny("deepseek_v3", DEEPSEEK_TOKENS, q_lora_rank=16, **MOE),
    ),
    model_meta(
        "deepseek_r1",
        "deepseek_r1",
        ["DeepseekV3ForCausalLM"],
        [("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1")],
        patterns=[r"deepseek-r1(?!-distill)"],
        tiny=tiny("deepseek_v3", DEEPSEEK_TOKENS, q_lora_rank=16, **MOE),
    ),
    model_meta(
        "deepseek_r1_distill_qwen",
        "deepseek_r1",
        ["Qwen2ForCausalLM"],
        [
            ("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"),
            ("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"),
        ],
        patterns=[r"r1-distill-qwen"],
        tiny=tiny("qwen2", DEEPSEEK_TOKENS),
    ),
    model_meta(
        "deepseek_r1_distill_llama",
        "deepseek_r1",
        ["LlamaForCausalLM"],
        [("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-ai/DeepSeek-R1-Distill-Llama-8B")],
        patterns=[r"r1-distill-llama"],
        tiny=tiny("llama", DEEPSEEK_TOKENS),
    ),
]
