"""`swiftk infer --metric acc|rouge`: the answers are scored by the registered metric's ``score_texts``
(``acc`` and ``nlg`` of swift-plugin-sft), found through the registry, never imported from another plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import swiftk
from swiftk.api import UsageError
from swiftk_infer.command import text_scorer

ROWS = [
    {"messages": [{"role": "user", "content": "What is 3 + 4?"}, {"role": "assistant", "content": "3 + 4 = 7."}]},
    {
        "messages": [
            {"role": "user", "content": "What color is grass?"},
            {"role": "assistant", "content": "Grass is green."},
        ]
    },
]


def test_acc_is_exact_match_and_rouge_is_nlg(swiftk_host):
    assert text_scorer(None) is None
    assert text_scorer("acc")([" 7 ", "blue"], ["7", "green"]) == {"acc": 0.5}
    scores = text_scorer("rouge")(["Grass is green."], ["Grass is green."])
    assert list(scores) == ["rouge-l", "bleu-4"] and scores["rouge-l"] == pytest.approx(1.0)


def test_a_missing_metric_names_the_flag_and_the_plugin_to_install(bare_swiftk_host):
    with pytest.raises(UsageError, match=r"--metric rouge: .*metric 'nlg'.*swift-plugin-sft"):
        text_scorer("rouge")


class _NoTextScorer:
    @staticmethod
    @swiftk.hookimpl
    def register_metrics(register):
        register("acc", lambda args=None, tokenizer=None: lambda eval_prediction: {"acc": 0.0})


def test_a_metric_without_score_texts_is_refused(bare_swiftk_host):
    bare_swiftk_host.register_plugin(_NoTextScorer, "no_text_scorer")
    with pytest.raises(UsageError, match=r"--metric acc: the metric 'acc' of plugin 'no_text_scorer' cannot score"):
        text_scorer("acc")


def swiftk_cli(*args, env=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=env, timeout=300)


def test_infer_over_a_dataset_with_rouge(tmp_path):
    data = tmp_path / "val.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    proc = swiftk_cli(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--val_dataset",
        str(data),
        "--temperature",
        "0",
        "--max_new_tokens",
        "8",
        "--metric",
        "rouge",
        "--result_path",
        str(tmp_path / "res.jsonl"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("[swiftk] rouge: "))
    assert line.startswith("[swiftk] rouge: rouge-l=") and ", bleu-4=" in line


def test_without_swift_plugin_sft_metric_is_refused_before_the_model_loads(tmp_path):
    data = tmp_path / "val.jsonl"
    data.write_text(json.dumps(ROWS[0]) + "\n")
    proc = swiftk_cli(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--val_dataset",
        str(data),
        "--metric",
        "acc",
        "--result_path",
        str(tmp_path / "res.jsonl"),
        env={"SWIFTK_DISABLED_PLUGINS": "sft"},
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "--metric acc" in proc.stderr and "swift-plugin-sft" in proc.stderr
    assert not (tmp_path / "res.jsonl").exists()


PLUGIN_FILE = '''
import swiftk


def words(predictions, references):
    """Mean word count of the answers over that of the references."""
    return {"words": sum(len(p.split()) for p in predictions) / sum(len(r.split()) for r in references)}


@swiftk.hookimpl
def register_metrics(register):
    register("words", lambda args=None, tokenizer=None: lambda eval_prediction: {}, score_texts=words)
    register("no_texts", lambda args=None, tokenizer=None: lambda eval_prediction: {})
'''


def test_a_plugin_files_metric_scores_infer_answers(tmp_path):
    """--external_plugins works for infer (as in later ms-swift 3.x) and --metric takes any registered metric
    with score_texts; one without is refused before the model loads, naming the plugin."""
    plugin = tmp_path / "my_metrics.py"
    plugin.write_text(PLUGIN_FILE)
    data = tmp_path / "val.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    common = ["infer", "--model", "swiftk/tiny-chat", "--val_dataset", str(data), "--external_plugins", str(plugin)]
    proc = swiftk_cli(
        *common, "--max_new_tokens", "4", "--metric", "words", "--result_path", str(tmp_path / "res.jsonl")
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = [json.loads(l)["response"] for l in (tmp_path / "res.jsonl").read_text().splitlines()]
    expected = sum(len(a.split()) for a in answers) / sum(len(r["messages"][-1]["content"].split()) for r in ROWS)
    line = next(l for l in proc.stdout.splitlines() if l.startswith("[swiftk] words: "))
    assert line == f"[swiftk] words: words={expected:.4f}"

    proc = swiftk_cli(*common, "--metric", "no_texts", "--result_path", str(tmp_path / "no.jsonl"))
    assert proc.returncode == 2
    assert f"--metric no_texts: the metric 'no_texts' of plugin '{plugin}' cannot score" in proc.stderr
    assert not (tmp_path / "no.jsonl").exists()

    proc = swiftk_cli(*common, "--metric", "nonesuch", "--result_path", str(tmp_path / "no.jsonl"))
    assert proc.returncode == 2 and "--metric" in proc.stderr and "nonesuch" in proc.stderr
