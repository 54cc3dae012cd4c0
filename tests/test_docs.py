"""Every hook is documented in docs/plugins.md and driven by a test of tests/test_hooks_driven.py
(as datasette enforces)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from swiftk import hookspecs
from swiftk.host import PluginHost

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(n for n in PluginHost(autoload=False)._hook_names)


def test_hook_list_is_what_the_design_promises():
    kinds = {f"register_{k}" for k in hookspecs.REGISTRY_KINDS}
    assert kinds <= set(HOOKS)
    assert {"resolve_model_type", "post_model_load", "post_trainer_create", "train_end"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_documented_section(hook):
    docs = (ROOT / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### `?{hook}`?", docs, re.M), f"docs/plugins.md has no '### {hook}' section"


def _driven_tests() -> set[str]:
    """The test functions defined at the top of tests/test_hooks_driven.py."""
    tree = ast.parse((ROOT / "tests" / "test_hooks_driven.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    """Each hook has a test that drives the kernel path consuming it (not a mention of its name)."""
    assert f"test_hook_{hook}" in _driven_tests(), (
        f"tests/test_hooks_driven.py defines no test_hook_{hook}: add one that registers a plugin implementing "
        f"{hook} and drives the kernel code that consumes it"
    )
