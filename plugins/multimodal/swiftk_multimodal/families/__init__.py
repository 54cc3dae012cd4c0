"""The vision (and audio) language families: model types (ms-swift's names), their templates, and what each
family's processor needs (the placeholder text of each medium, the page's environment parameters), one
module per family group.

Families transformers implements natively load with ``AutoProcessor`` and ``AutoModelForImageTextToText``;
those that need the checkpoint's own code are registered too (model type, template, environment
parameters), and load through ``trust_remote_code``; docs/multimodal.md says which were tested how.
"""

from __future__ import annotations

import importlib
import pkgutil


def modules() -> list[str]:
    """The family modules of this package (each with ``MODELS`` and ``TEMPLATES``), by name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _collect(name: str) -> list:
    out = []
    for module in modules():
        out += getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return out


def __getattr__(name: str) -> list:
    if name in ("MODELS", "TEMPLATES"):
        return _collect(name)
    raise AttributeError(name)
