"""The examples third parties copy work as written: the skeleton's and the contrib plugin's metrics run in
a real Trainer evaluation (one EvalPrediction, generated ids) and land in logging.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kernel_support import CONTRIB, ROOT, run_swiftk
from swiftk.testing.metrics import MetricContract

EVAL = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft#8",
    "--val_dataset",
    "swiftk/demo-sft#4",
    "--train_type",
    "lora",
    "--max_steps",
    "1",
    "--eval_steps",
    "1",
    "--save_steps",
    "1",
    "--predict_with_generate",
    "true",
    "--max_new_tokens",
    "8",
    "--report_to",
    "none",
    "--add_version",
    "false",
]


def eval_logs(out: Path) -> dict:
    rows = [json.loads(l) for l in (out / "logging.jsonl").read_text().splitlines()]
    return next(r for r in rows if any(k.startswith("eval_") for k in r))


@pytest.mark.slow
def test_contrib_exact_match_metric_runs_in_evaluation(tmp_path):
    out = tmp_path / "run"
    plugin = CONTRIB / "swiftk-example-reward" / "swiftk_example_reward" / "__init__.py"
    result = run_swiftk(
        "sft", *EVAL, "--custom_register_path", str(plugin), "--metric", "exact_match", "--output_dir", str(out)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert 0.0 <= eval_logs(out)["eval_exact_match"] <= 1.0


@pytest.mark.slow
def test_template_skeleton_metric_runs_in_evaluation(tmp_path):
    site = tmp_path / "site"
    info = site / "swift_plugin_template-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: swift-plugin-template\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[swiftk]\ntemplate = swiftk_template.plugin\n")
    out = tmp_path / "run"
    pythonpath = f"{site}:{ROOT / 'plugins' / '_template'}"
    result = run_swiftk(
        "sft", *EVAL, "--metric", "template_metric", "--output_dir", str(out), env={"PYTHONPATH": pythonpath}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert eval_logs(out)["eval_mean_length"] > 0


class TestContribExactMatchContract(MetricContract):
    metric = "exact_match"
    plugins = (str(CONTRIB / "swiftk-example-reward" / "swiftk_example_reward" / "__init__.py"),)
    predict_with_generate = True
    expected = {"exact_match": 2 / 3}
