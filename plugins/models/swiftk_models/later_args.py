"""Later ms-swift (3.5+) template arguments that are not on the v3.2 page (the kernel's groups are the page's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.api import arg


@dataclass
class ResponsePrefixArguments:
    """What a generated answer starts with."""

    SECTION = "Template arguments"

    response_prefix: Optional[str] = arg(
        None,
        "Text the generation prompt ends with, before the model's answer (e.g. '<think>\\n'; '\\n' is a newline); "
        "'' for none. None: the template's own (a thinking template's opening tag).",
    )


@dataclass
class OllamaExportArguments:
    """``swiftk export --to_ollama true`` (later ms-swift): written by the kernel's export pipeline."""

    SECTION = "Export arguments"

    to_ollama: bool = arg(
        False,
        "Write an Ollama Modelfile (FROM the model folder, TEMPLATE read off the chat template, PARAMETER stop and "
        "generation values) into --output_dir; with --adapters also --merge_lora true.",
    )
