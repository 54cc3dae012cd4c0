"""Llama templates: Llama 2 (``llama``), Llama 3, Llama 3.1/3.3 and Llama 3.2; Mistral."""

from swiftk_models.templates._build import template_meta

HEADER = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
L3_PROMPT = [
    "<|start_header_id|>user<|end_header_id|>\n\n{{QUERY}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
]
L3_SYSTEM = ["<|start_header_id|>system<|end_header_id|>\n\n{{SYSTEM}}<|eot_id|>"]
L3_STOP = ["<|eot_id|>", "<|eom_id|>", "<|end_of_text|>"]

METAS = [
    template_meta(
        "llama",
        prompt=["{{bos_token}}[INST] {{QUERY}} [/INST]"],
        chat_sep=[" {{eos_token}}"],
        suffix=[" {{eos_token}}"],
        stop_words=["</s>"],
        strip="all",
        response_lead=" ",
        system_in_query="<<SYS>>\n{{SYSTEM}}\n<</SYS>>\n\n{{QUERY}}",
    ),
    template_meta(
        "llama3",
        prefix=["{{bos_token}}"],
        system_prefix=["{{bos_token}}" + L3_SYSTEM[0]],
        prompt=L3_PROMPT,
        chat_sep=["<|eot_id|>"],
        suffix=["<|eot_id|>"],
        stop_words=L3_STOP,
        special_tokens=HEADER,
        strip="all",
    ),
    template_meta(
        "llama3_1",
        prefix=["{{bos_token}}"],
        prompt=L3_PROMPT,
        chat_sep=["<|eot_id|>"],
        suffix=["<|eot_id|>"],
        stop_words=L3_STOP,
        special_tokens=HEADER,
        strip="all",
        agent_template="llama3",
        template_cls="swiftk_models.formats.llama3:Llama31Template",
        date_string="26 Jul 2024",
    ),
    template_meta(
        "llama3_2",
        prefix=["{{bos_token}}"],
        prompt=L3_PROMPT,
        chat_sep=["<|eot_id|>"],
        suffix=["<|eot_id|>"],
        stop_words=L3_STOP,
        special_tokens=HEADER,
        strip="all",
        agent_template="llama3",
        template_cls="swiftk_models.formats.llama3:Llama31Template",
        date_string=None,
    ),
    template_meta(
        "mistral",
        prefix=["{{bos_token}}"],
        prompt=[" [INST] {{QUERY}} [/INST]"],
        chat_sep=["{{eos_token}}"],
        suffix=["{{eos_token}}"],
        stop_words=["</s>"],
        response_lead=" ",
        system_in_query="{{SYSTEM}}\n\n{{QUERY}}",
    ),
]
