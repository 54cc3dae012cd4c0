"""Plugins and contrib import only the kernel's declared public API: the top-level package (hookimpl,
get_host, __version__, HOOK_API_VERSION) and swiftk.api (their test suites, white-box tests of the
kernel-plugin seam, may import more)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

import swiftk.api
from kernel_support import CONTRIB, ROOT

TOP_LEVEL = {"hookimpl", "get_host", "__version__", "HOOK_API_VERSION"}


def kernel_imports(path) -> list[str]:
    """``module:name`` of every swiftk import in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.split(".")[0] == "swiftk"
        ):
            found += [f"{node.module}:{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [f"{alias.name}:" for alias in node.names if alias.name.split(".")[0] == "swiftk"]
    return found


def allowed(ref: str) -> bool:
    module, _, name = ref.partition(":")
    if module == "swiftk":
        return name in TOP_LEVEL or name == ""
    return module == "swiftk.api" and name in swiftk.api.__all__


def test_plugins_and_contrib_import_only_the_public_api():
    offenders = []
    for folder in [*sorted((ROOT / "plugins").iterdir()), CONTRIB]:
        for path in folder.rglob("*.py"):
            if "tests" in path.relative_to(folder).parts:
                continue
            offenders += [f"{path.relative_to(ROOT)}: {ref}" for ref in kernel_imports(path) if not allowed(ref)]
    assert not offenders, "\n".join(offenders)


def test_every_public_name_resolves_and_nothing_else_does():
    for name in swiftk.api.__all__:
        assert getattr(swiftk.api, name) is not None, name
    with pytest.raises(AttributeError, match="public names are listed in docs/plugins.md"):
        swiftk.api.build_trainer


def test_importing_the_api_imports_nothing_heavy():
    code = (
        "import sys, swiftk.api; from swiftk.api import TunerSpec, UsageError; "
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_pipelines_never_import_the_cli():
    for path in (ROOT / "kernel" / "swiftk" / "pipelines").rglob("*.py"):
        assert not [r for r in kernel_imports(path) if r.startswith("swiftk.cli")], path


def test_docs_list_every_public_name():
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    missing = [name for name in swiftk.api.__all__ if f"`{name}`" not in text]
    assert not missing, missing
