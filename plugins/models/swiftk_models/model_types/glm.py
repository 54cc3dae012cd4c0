"""GLM family: ChatGLM3 and GLM-4 (remote-code ChatGLMModel, and transformers' Glm/Glm4 classes)."""

from swiftk_models.model_types._build import model_meta, tiny, tiny_remote

GLM_ROLES = ["[gMASK]", "<|system|>", "<|user|>", "<|assistant|>", "<|observation|>"]

METAS = [
    model_meta(
        "chatglm3",
        "chatglm3",
        ["ChatGLMModel", "ChatGLMForConditionalGeneration"],
        [("ZhipuAI/chatglm3-6b", "THUDM/chatglm3-6b")],
        patterns=[r"chatglm3"],
        arch_default=True,
        tiny=tiny_remote(
            "chatglm",
            "ChatGLMModel",
            {"eos": "</s>", "extra": GLM_ROLES + ["sop"]},
            auto_class="ChatGLMForConditionalGeneration",
        ),
    ),
    model_meta(
        "glm4",
        "glm4",
        ["GlmForCausalLM", "Glm4ForCausalLM", "ChatGLMModel"],
        [
            ("ZhipuAI/glm-4-9b-chat", "THUDM/glm-4-9b-chat"),
            ("ZhipuAI/glm-4-9b-chat-hf", "THUDM/glm-4-9b-chat-hf"),
            ("ZhipuAI/GLM-4-9B-0414", "THUDM/GLM-4-9B-0414"),
        ],
        patterns=[r"glm-?4"],
        arch_default=True,
        tiny=tiny(
            "glm",
            {"eos": "<|endoftext|>", "pad": "<|endoftext|>", "extra": GLM_ROLES + ["<sop>"]},
            partial_rotary_factor=0.5,
        ),
    ),
]
