"""Every hook is documented in docs/plugins.md and exercised by a test (as datasette enforces)."""
from __future__ import annotations

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


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook):
    sources = [p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != "test_docs.py"]
    sources += [p.read_text() for p in ROOT.glob("plugins/*/tests/*.py")]
    assert any(re.search(rf"\b{hook}\b", s) for s in sources), f"no test mentions {hook}"
