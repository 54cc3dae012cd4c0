"""Yi, Baichuan 2, MiniCPM, and ``causal_lm``: any folder AutoModelForCausalLM loads."""

from swiftk_models.model_types._build import CHATML_TOKENS, model_meta, tiny, tiny_remote

METAS = [
    model_meta(
        "yi",
        "yi",
        ["LlamaForCausalLM"],
        [("01ai/Yi-6B-Chat", "01-ai/Yi-6B-Chat"), ("01ai/Yi-1.5-6B-Chat", "01-ai/Yi-1.5-6B-Chat")],
        patterns=[r"(^|[^a-z])yi[-_]"],
        tiny=tiny(
            "llama",
            {"bos": "<|startoftext|>", "eos": "<|im_end|>", "pad": "<unk>", "extra": ["<|im_start|>", "<|endoftext|>"]},
        ),
    ),
    model_meta(
        "baichuan2",
        "baichuan",
        ["BaichuanForCausalLM"],
        [("baichuan-inc/Baichuan2-7B-Chat", "baichuan-inc/Baichuan2-7B-Chat")],
        patterns=[r"baichuan2"],
        arch_default=True,
        tiny=tiny_remote("baichuan", "BaichuanForCausalLM", {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}),
    ),
    model_meta(
        "minicpm",
        "minicpm",
        ["MiniCPMForCausalLM"],
        [("OpenBMB/MiniCPM-2B-sft-bf16", "openbmb/MiniCPM-2B-sft-bf16")],
        patterns=[r"minicpm"],
        arch_default=True,
        tiny=tiny_remote("minicpm", "MiniCPMForCausalLM", {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}),
    ),
    # The fallback for any folder AutoModelForCausalLM can load; resolved last (see docs/models.md).
    model_meta("causal_lm", "chatml", [], [], generic=True, tiny=tiny("olmo2", CHATML_TOKENS)),
]
