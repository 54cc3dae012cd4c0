"""The page's "App参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from swiftk.arguments.fields import arg


@dataclass
class AppArguments:
    """App arguments (the seed page's "App参数")."""

    SECTION = "App arguments"
    SECTION_ZH = "App参数"

    base_url: Optional[str] = arg(
        None, "base_url of a deployed model, e.g. http://localhost:8000/v1; None deploys locally."
    )
    studio_title: Optional[str] = arg(None, "Studio title; None uses the model name.")
    is_multimodal: Optional[bool] = arg(
        None, "Start the multimodal app; None decides from the model (False when unknown)."
    )
    lang: Literal["zh", "en"] = arg("en", "App language.")
