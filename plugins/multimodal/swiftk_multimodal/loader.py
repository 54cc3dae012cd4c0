"""Loading a vision-language checkpoint: the family's own processor (``AutoProcessor``, with the page's
environment parameters such as ``MAX_PIXELS`` applied) and ``AutoModelForImageTextToText``."""

from __future__ import annotations

from typing import Any


def processor_kwargs(model_info: Any) -> dict:
    """The page's environment parameters of the family (``--model_kwargs`` key or environment variable)."""
    from swiftk.api import get_host, get_model_arg

    template = get_host().registry("templates").entry_or_none(model_info.template_type or "")
    env = (getattr(template.load(), "extra", {}) or {}).get("env", {}) if template is not None else {}
    out = {}
    for name, keyword in env.items():
        value = get_model_arg(name, None)
        if value is not None and keyword:
            out[keyword] = int(value)
    return out


def load_vlm(model_dir: str, model_info: Any, model_kwargs: dict, load_model: bool = True, **kwargs: Any):
    """``(model or None, processor)`` of a family transformers implements."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    trust = bool(model_kwargs.get("trust_remote_code"))
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=trust, **processor_kwargs(model_info))
    if not load_model:
        return None, processor
    return AutoModelForImageTextToText.from_pretrained(model_dir, **model_kwargs), processor
