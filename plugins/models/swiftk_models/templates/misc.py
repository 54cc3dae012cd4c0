"""Phi-3, Phi-4, Gemma, Gemma 3, Baichuan 2, MiniCPM, and ms-swift's plain ``default`` template."""

from swiftk_models.templates._build import template_meta

GEMMA = dict(
    prefix=["{{bos_token}}"],
    prompt=["<start_of_turn>user\n{{QUERY}}<end_of_turn>\n<start_of_turn>model\n"],
    chat_sep=["<end_of_turn>\n"],
    suffix=["<end_of_turn>\n"],
    stop_words=["<end_of_turn>", "<eos>"],
    special_tokens=["<start_of_turn>", "<end_of_turn>"],
    strip="all",
    system_in_query="{{SYSTEM}}\n\n{{QUERY}}",
)

METAS = [
    # ms-swift's 'default' (### Human / ### Assistant, its auto_add_bos as a bos prefix): for a model with no
    # chat template of its own, --template default
    template_meta(
        "default",
        prefix=["{{bos_token}}"],
        system_prefix=["{{bos_token}}{{SYSTEM}}\n\n"],
        prompt=["### Human:\n{{QUERY}}\n\n### Assistant:\n"],
        chat_sep=["\n\n"],
        suffix=["{{eos_token}}"],
        default_system="You are a helpful assistant.",
        no_official_jinja=True,  # ms-swift's own format: no checkpoint ships it as a chat template
    ),
    template_meta(
        "phi3",
        system_prefix=["<|system|>\n{{SYSTEM}}<|end|>\n"],
        prompt=["<|user|>\n{{QUERY}}<|end|>\n<|assistant|>\n"],
        chat_sep=["<|end|>\n"],
        suffix=["<|end|>\n{{eos_token}}"],
        stop_words=["<|end|>", "<|endoftext|>"],
        special_tokens=["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"],
    ),
    template_meta(
        "phi4",
        system_prefix=["<|im_start|>system<|im_sep|>{{SYSTEM}}<|im_end|>"],
        prompt=["<|im_start|>user<|im_sep|>{{QUERY}}<|im_end|><|im_start|>assistant<|im_sep|>"],
        chat_sep=["<|im_end|>"],
        suffix=["<|im_end|>"],
        stop_words=["<|im_end|>", "<|endoftext|>"],
        special_tokens=["<|im_start|>", "<|im_sep|>", "<|im_end|>"],
    ),
    template_meta("gemma", **GEMMA),
    template_meta("gemma3", **GEMMA),
    template_meta(
        "baichuan",
        system_prefix=["{{SYSTEM}}"],
        prompt=["<reserved_106>{{QUERY}}<reserved_107>"],
        chat_sep=[],
        suffix=["{{eos_token}}"],
        stop_words=["</s>"],
        special_tokens=["<reserved_106>", "<reserved_107>"],
        strip="system",
    ),
    template_meta(
        "minicpm",
        system_prefix=["{{SYSTEM}}"],
        prompt=["<用户>{{QUERY}}<AI>"],
        chat_sep=[],
        suffix=["{{eos_token}}"],
        stop_words=["</s>"],
        special_tokens=["<用户>", "<AI>"],
        strip="all",
    ),
]
