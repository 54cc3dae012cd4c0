"""kernel/swiftk/arguments/atomic/hf_training.py is generated from the installed transformers.

If this fails after a transformers upgrade, run ``python scripts/gen_hf_training_fields.py``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from swiftk.arguments.atomic import hf_training
from swiftk.arguments.commands import COMMANDS
from swiftk.arguments.fields import arg_infos

REPO = Path(__file__).resolve().parent.parent


def test_generated_module_matches_installed_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "hf_training_fresh.py"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_hf_training_fields.py"), "-o", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    spec = importlib.util.spec_from_file_location("hf_training_fresh", out)
    fresh = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = fresh
    try:
        spec.loader.exec_module(fresh)
        new = [(i.name, i.type, i.default, i.help) for i in arg_infos(fresh.HfTrainingArguments)]
    finally:
        del sys.modules[spec.name]
    old = [(i.name, i.type, i.default, i.help) for i in arg_infos(hf_training.HfTrainingArguments)]
    assert hf_training.TRANSFORMERS_VERSION == transformers.__version__
    assert [n for n, *_ in new] == [n for n, *_ in old]
    assert new == old
    assert out.read_text(encoding="utf-8") == Path(hf_training.__file__).read_text(encoding="utf-8")


def test_generated_fields_do_not_shadow_the_page():
    hf = {i.name for i in arg_infos(hf_training.HfTrainingArguments)}
    for cmd in ("sft", "pt", "rlhf"):
        others = {i.name for g in COMMANDS[cmd] if g is not hf_training.HfTrainingArguments for i in arg_infos(g)}
        assert not hf & others
    assert {"optim", "bf16", "adam_beta1", "warmup_steps", "logging_strategy"} <= hf
    assert "learning_rate" not in hf and "report_to" not in hf and "seed" not in hf
