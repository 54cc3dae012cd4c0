"""Which distribution provides each built-in name, so that a missing one says what to install.

Only the names the project's own plugins provide are listed; third-party names are found
through their entry points as usual.
"""
from __future__ import annotations

from typing import Optional

#: kind -> name -> distribution
PROVIDERS: dict[str, dict[str, str]] = {
    "commands": {
        "sft": "swift-plugin-sft", "pt": "swift-plugin-sft",
        "rlhf": "swift-plugin-rlhf",
        "infer": "swift-plugin-infer", "deploy": "swift-plugin-infer",
        "app": "swift-plugin-webui", "web-ui": "swift-plugin-webui",
        "eval": "swift-plugin-eval",
        "export": "swift-plugin-export", "merge-lora": "swift-plugin-peft",
        "sample": "swift-plugin-sample",
    },
    "tuners": {
        **{t: "swift-plugin-peft" for t in (
            "lora", "longlora", "adalora", "llamapro", "adapter", "vera", "boft", "fourierft")},
        "reft": "swift-plugin-reft",
        "full": "swift-plugin-sft",
    },
    "trainers": {
        "sft": "swift-plugin-sft", "pt": "swift-plugin-sft",
        **{t: "swift-plugin-rlhf" for t in ("dpo", "orpo", "simpo", "kto", "cpo", "rm", "ppo")},
        "grpo": "swift-plugin-grpo",
    },
    "rewards": {r: "swift-plugin-grpo" for r in ("accuracy", "format", "cosine", "repetition", "soft_overlong")},
    "metrics": {"acc": "swift-plugin-sft", "nlg": "swift-plugin-sft"},
    "infer_engines": {
        "pt": "swift-plugin-infer", "vllm": "swift-plugin-vllm", "lmdeploy": "swift-plugin-lmdeploy",
    },
    "optimizers": {"galore": "swift-plugin-galore", "lorap": "swift-plugin-peft"},
    "callbacks": {"lisa": "swift-plugin-lisa"},
    "datasets": {"swift/self-cognition": "swift-plugin-datasets"},
    "models": {"swiftk/tiny-chat": "swift-plugin-demo"},
}


#: The distribution whose template engine encodes conversations for a ``TemplateMeta`` that
#: names no ``template_cls`` (ms-swift style registrations), and its class.
TEMPLATE_ENGINE = ("swift-plugin-models", "swiftk_models.template:Template")


def distribution_installed(distribution: str) -> bool:
    """True when ``distribution`` is installed (by its metadata; nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(distribution)
        return True
    except PackageNotFoundError:
        return False


def provider_of(kind: str, name: str) -> Optional[str]:
    """The distribution that provides built-in ``name`` of ``kind``, if it is one of ours."""
    return PROVIDERS.get(kind, {}).get(name)
