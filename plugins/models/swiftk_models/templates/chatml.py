"""ChatML templates: Qwen (1.5/2), Qwen2.5, QwQ, Qwen3, plain ChatML, Yi, InternLM2."""

from swiftk_models.templates._build import template_meta

IM = ["<|im_start|>", "<|im_end|>"]
SYSTEM = ["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"]
PROMPT = ["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"]
END = ["<|im_end|>\n"]
STOP = ["<|im_end|>", "<|endoftext|>"]
QWEN25_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

METAS = [
    template_meta(
        "qwen",
        system_prefix=SYSTEM,
        prompt=PROMPT,
        chat_sep=END,
        suffix=END,
        default_system="You are a helpful assistant.",
        stop_words=STOP,
        special_tokens=IM,
    ),
    template_meta(
        "qwen2_5",
        system_prefix=SYSTEM,
        prompt=PROMPT,
        chat_sep=END,
        suffix=END,
        default_system=QWEN25_SYSTEM,
        stop_words=STOP,
        special_tokens=IM,
        agent_template="hermes",
        template_cls="swiftk_models.formats.hermes:HermesTemplate",
        tools_system="default_or_system",
    ),
    template_meta(
        "qwq",
        system_prefix=SYSTEM,
        prompt=PROMPT,
        chat_sep=END,
        suffix=END,
        stop_words=STOP,
        special_tokens=IM,
        agent_template="hermes",
        response_prefix="<think>\n",
        is_thinking=True,
        template_cls="swiftk_models.formats.hermes:HermesTemplate",
        tools_system="system_or_empty",
        history_think="drop_lstrip",
    ),
    template_meta(
        "qwen3",
        system_prefix=SYSTEM,
        prompt=PROMPT,
        chat_sep=END,
        suffix=END,
        stop_words=STOP,
        special_tokens=IM,
        agent_template="hermes",
        is_thinking=True,
        template_cls="swiftk_models.formats.hermes:Qwen3Template",
        tools_system="system_if_any",
    ),
    template_meta(
        "chatml", system_prefix=SYSTEM, prompt=PROMPT, chat_sep=END, suffix=END, stop_words=STOP, special_tokens=IM
    ),
    template_meta(
        "yi", system_prefix=["{{SYSTEM}}"], prompt=PROMPT, chat_sep=END, suffix=END, stop_words=STOP, special_tokens=IM
    ),
    template_meta(
        "internlm2",
        prefix=["{{bos_token}}"],
        system_prefix=["{{bos_token}}<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
        prompt=PROMPT,
        chat_sep=END,
        suffix=END,
        stop_words=["<|im_end|>"],
        special_tokens=IM,
    ),
]
