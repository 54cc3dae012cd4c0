"""The page's "Web-UI参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from swiftk.arguments.fields import arg


@dataclass
class WebUIArguments:
    """Web-UI arguments (the seed page's "Web-UI参数")."""

    SECTION = "Web-UI arguments"
    SECTION_ZH = "Web-UI参数"

    server_name: str = arg("0.0.0.0", "Web-UI host.")
    server_port: int = arg(7860, "Web-UI port.")
    share: bool = arg(False, "Create a public share link.")
    lang: Literal["zh", "en"] = arg("zh", "Web-UI language.")
