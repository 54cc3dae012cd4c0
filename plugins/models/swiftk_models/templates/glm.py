"""GLM templates: ChatGLM3 and GLM-4."""

from swiftk_models.templates._build import template_meta

ROLES = ["<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]

METAS = [
    template_meta(
        "chatglm3",
        prefix=["[gMASK]sop"],
        system_prefix=["[gMASK]sop<|system|>\n {{SYSTEM}}"],
        prompt=["<|user|>\n {{QUERY}}<|assistant|>"],
        chat_sep=[],
        suffix=["<|user|>"],
        stop_words=["<|user|>", "<|observation|>"],
        special_tokens=["[gMASK]", "sop", *ROLES],
        response_lead="\n ",
    ),
    template_meta(
        "glm4",
        prefix=["[gMASK]<sop>"],
        system_prefix=["[gMASK]<sop><|system|>\n{{SYSTEM}}"],
        prompt=["<|user|>\n{{QUERY}}<|assistant|>"],
        chat_sep=[],
        suffix=["<|user|>"],
        stop_words=["<|user|>", "<|observation|>", "<|endoftext|>"],
        special_tokens=["[gMASK]", "<sop>", *ROLES],
        response_lead="\n",
        agent_template="glm4",
        template_cls="swiftk_models.formats.glm4:Glm4Template",
    ),
]
