"""Entry point of swift-plugin-demo: the model id ``swiftk/tiny-chat`` and its chatml template."""

import swiftk
from swiftk.api import Model, ModelGroup, ModelMeta, TemplateMeta

MODEL_ID = "swiftk/tiny-chat"


@swiftk.hookimpl
def register_models(register):
    from swiftk_demo import MODEL_DIR

    register(
        "tiny_chat",
        ModelMeta(
            "tiny_chat",
            [ModelGroup([Model(ms_model_id=MODEL_ID, hf_model_id=MODEL_ID, model_path=MODEL_DIR)])],
            template="tiny_chat",
            architectures=[],
            tags=["demo"],
        ),
    )


@swiftk.hookimpl
def register_templates(register):
    register(
        "tiny_chat",
        TemplateMeta(
            "tiny_chat",
            prefix=[],
            system_prefix=["<|im_start|>system\n{{SYSTEM}}<|im_end|>\n"],
            prompt=["<|im_start|>user\n{{QUERY}}<|im_end|>\n<|im_start|>assistant\n"],
            chat_sep=["<|im_end|>\n"],
            suffix=["<|im_end|>\n"],
            default_system="You are a helpful assistant.",
            stop_words=["<|im_end|>", "<|endoftext|>"],
        ),
    )
