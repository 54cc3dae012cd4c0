"""``requires`` of a model type, a model group and an engine: checked before loading, one line each."""

from __future__ import annotations

import shutil

from kernel_support import ROOT, one_line_error, run_swiftk

PLUGIN = """
import swiftk
from swiftk.api import EngineSpec, Model, ModelGroup, ModelMeta


@swiftk.hookimpl
def register_models(register):
    group = ModelGroup([Model("org/tiny-chat")], requires=["swiftk-nonesuch-lib"])
    register("needs_lib", ModelMeta("needs_lib", [group], template="chatml"))
    register("needs_new_torch", ModelMeta("needs_new_torch", template="chatml", requires=["torch>=99"]))


@swiftk.hookimpl
def register_infer_engines(register):
    register("needs_engine_lib", EngineSpec(engine_cls="nowhere:Engine", requires=["swiftk-nonesuch-engine"]))
"""


def _infer(tmp_path, *flags):
    plugin = tmp_path / "needs.py"
    plugin.write_text(PLUGIN)
    data = tmp_path / "q.jsonl"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\\n')
    return run_swiftk(
        "infer", "--custom_register_path", str(plugin), "--val_dataset", str(data), "--max_new_tokens", "2", *flags
    )


def test_a_model_types_requirement_is_checked_before_loading(tmp_path):
    result = _infer(tmp_path, "--model", "swiftk/tiny-chat", "--model_type", "needs_new_torch")
    assert result.returncode == 2
    line = one_line_error(result)
    assert "--model swiftk/tiny-chat (model_type needs_new_torch) needs torch>=99" in line
    assert "is installed): pip install 'torch>=99'" in line


def test_a_model_groups_requirement_applies_to_its_checkpoints(tmp_path):
    folder = tmp_path / "tiny-chat"  # the folder's name is the group's id's
    shutil.copytree(ROOT / "plugins" / "demo" / "swiftk_demo" / "tiny-chat", folder)
    result = _infer(tmp_path, "--model", str(folder), "--model_type", "needs_lib")
    assert result.returncode == 2
    assert "needs swiftk-nonesuch-lib (not installed): pip install swiftk-nonesuch-lib" in one_line_error(result)


def test_an_engines_requirement_is_checked_before_it_is_built(tmp_path):
    result = _infer(tmp_path, "--model", "swiftk/tiny-chat", "--infer_backend", "needs_engine_lib")
    assert result.returncode == 2
    assert "--infer_backend needs_engine_lib needs swiftk-nonesuch-engine (not installed)" in one_line_error(result)
