"""DeepSeek templates: deepseek-llm chat, V2.5 (also V2 and V3 chat) and R1 (and its distills)."""

from swiftk_models.templates._build import template_meta

EOS = "<｜end▁of▁sentence｜>"
V25 = dict(
    prefix=["{{bos_token}}"],
    system_prefix=["{{bos_token}}{{SYSTEM}}"],
    prompt=["<｜User｜>{{QUERY}}<｜Assistant｜>"],
    chat_sep=[EOS],
    suffix=[EOS],
    stop_words=[EOS],
    special_tokens=["<｜User｜>", "<｜Assistant｜>", EOS],
)

METAS = [
    template_meta(
        "deepseek",
        prefix=["{{bos_token}}"],
        system_prefix=["{{bos_token}}{{SYSTEM}}\n\n"],
        prompt=["User: {{QUERY}}\n\nAssistant:"],
        chat_sep=["{{eos_token}}"],
        suffix=["{{eos_token}}"],
        stop_words=[EOS],
        response_lead=" ",
    ),
    template_meta("deepseek_v2_5", **V25),
    template_meta("deepseek_r1", **V25, is_thinking=True, history_think="drop"),
]
