"""A compact way to declare a model type: one call per ``model_type``.

``model_meta`` returns a :class:`swiftk.specs.ModelMeta`; the fields swift-kernel reads beyond
ms-swift's are kept in ``extra``:

* ``name_patterns`` — regular expressions matched against the lower-cased folder name, which choose
  between model types that share an architecture (``Qwen2ForCausalLM`` → qwen2, qwen2_5, qwq, ...);
* ``arch_default`` — this type is the pick for its architectures when no pattern matches;
* ``tiny`` — how :func:`swiftk.testing.tiny.build_tiny_checkpoint` builds a random tiny checkpoint:
  the transformers config type (or a stand-in for families that ship remote code) and the tokens.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

from swiftk.api import Model, ModelGroup, ModelMeta

#: Tokens of the families, used by the tiny checkpoints (the template adds its own special tokens).
CHATML_TOKENS = {"eos": "<|im_end|>", "pad": "<|endoftext|>", "extra": ["<|im_start|>", "<|endoftext|>"]}
QWEN_TOKENS = {
    "eos": "<|im_end|>",
    "pad": "<|endoftext|>",
    "extra": [
        "<|im_start|>",
        "<|endoftext|>",
        "<tool_call>",
        "</tool_call>",
        "<tool_response>",
        "</tool_response>",
        "<think>",
        "</think>",
    ],
}
LLAMA2_TOKENS = {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}
LLAMA3_TOKENS = {
    "bos": "<|begin_of_text|>",
    "eos": "<|eot_id|>",
    "extra": ["<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|python_tag|>"],
}
DEEPSEEK_TOKENS = {
    "bos": "<｜begin▁of▁sentence｜>",
    "eos": "<｜end▁of▁sentence｜>",
    "extra": ["<｜User｜>", "<｜Assistant｜>", "<think>", "</think>"],
}


def model_meta(
    model_type: str,
    template: str,
    architectures: Sequence[str],
    ids: Iterable[tuple],
    *,
    patterns: Sequence[str] = (),
    arch_default: bool = False,
    tiny: Optional[dict] = None,
    requires: Sequence[str] = (),
    is_multimodal: bool = False,
    tags: Sequence[str] = (),
    **extra: Any,
) -> ModelMeta:
    """One model type.  ``ids`` are ``(modelscope_id, huggingface_id)`` pairs (either may be None)."""
    models = [Model(ms_model_id=ms, hf_model_id=hf) for ms, hf in ids]
    return ModelMeta(
        model_type=model_type,
        model_groups=[ModelGroup(models)] if models else [],
        template=template,
        architectures=list(architectures),
        is_multimodal=is_multimodal,
        requires=list(requires),
        tags=list(tags),
        extra={"name_patterns": list(patterns), "arch_default": arch_default, "tiny": tiny or {}, **extra},
    )


def tiny(config: str, tokens: dict, **overrides: Any) -> dict:
    """Tiny checkpoint spec for a family transformers implements (``config`` = its model_type)."""
    return {"config": config, "tokens": tokens, "overrides": overrides}


def tiny_remote(model_type: str, architecture: str, tokens: dict, auto_class: Optional[str] = None) -> dict:
    """Tiny spec for a family that ships remote code: a Llama-shaped stand-in under its class name."""
    return {
        "config": "llama",
        "tokens": tokens,
        "overrides": {},
        "remote": {"model_type": model_type, "architecture": architecture, "auto_class": auto_class or architecture},
    }
