"""Llama family: Llama (generic LlamaForCausalLM), Llama 2, Llama 3, 3.1 (and 3.3), 3.2."""

from swiftk_models.model_types._build import LLAMA2_TOKENS, LLAMA3_TOKENS, model_meta, tiny

LLAMA = "LlamaForCausalLM"

METAS = [
    model_meta(
        "llama",
        "llama",
        [LLAMA],
        [("modelscope/Llama-2-7b-ms", "meta-llama/Llama-2-7b-hf")],
        arch_default=True,
        tiny=tiny("llama", LLAMA2_TOKENS),
    ),
    model_meta(
        "llama2",
        "llama",
        [LLAMA],
        [
            ("modelscope/Llama-2-7b-chat-ms", "meta-llama/Llama-2-7b-chat-hf"),
            ("modelscope/Llama-2-13b-chat-ms", "meta-llama/Llama-2-13b-chat-hf"),
        ],
        patterns=[r"llama-?2"],
        tiny=tiny("llama", LLAMA2_TOKENS),
    ),
    model_meta(
        "llama3",
        "llama3",
        [LLAMA],
        [("LLM-Research/Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B-Instruct")],
        patterns=[r"llama-?3(?![._\d])"],
        tiny=tiny("llama", LLAMA3_TOKENS),
    ),
    model_meta(
        "llama3_1",
        "llama3_1",
        [LLAMA],
        [
            ("LLM-Research/Meta-Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
            ("LLM-Research/Llama-3.3-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct"),
        ],
        patterns=[r"llama-?3[._][13]"],
        tiny=tiny("llama", LLAMA3_TOKENS),
    ),
    model_meta(
        "llama3_2",
        "llama3_2",
        [LLAMA],
        [
            ("LLM-Research/Llama-3.2-1B-Instruct", "meta-llama/Llama-3.2-1B-Instruct"),
            ("LLM-Research/Llama-3.2-3B-Instruct", "meta-llama/Llama-3.2-3B-Instruct"),
        ],
        patterns=[r"llama-?3[._]2"],
        tiny=tiny("llama", LLAMA3_TOKENS),
    ),
]
