"""The plugin as users see it: what `swiftk plugins` lists, and a light import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import swiftk


def run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, timeout=120)


def test_swiftk_plugins_lists_the_model_types_and_templates():
    proc = run("-m", "swiftk", "plugins", "--json")
    assert proc.returncode == 0, proc.stderr
    ours = next(p for p in json.loads(proc.stdout) if p["name"] == "models")
    assert ours["distribution"] == "swift-plugin-models"
    assert len(ours["registers"]["models"]) >= 30 and len(ours["registers"]["templates"]) >= 20
    assert {"react_en", "react_zh", "glm4", "toolbench", "qwen"} <= set(ours["registers"]["agent_templates"])


def test_plugin_module_imports_nothing_heavy():
    code = (
        "import sys, swiftk_models.plugin; "
        "print(','.join(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))"
    )
    proc = run("-c", code)
    assert proc.returncode == 0 and proc.stdout.strip() == "", proc.stdout + proc.stderr


def test_this_plugin_answers_the_template_engine_hook():
    from swiftk.hints import TEMPLATE_ENGINE_PROVIDER
    from swiftk_models.template import Template

    assert TEMPLATE_ENGINE_PROVIDER == "swift-plugin-models"
    assert swiftk.get_host().hook.template_engine() is Template
