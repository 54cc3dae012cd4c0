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
