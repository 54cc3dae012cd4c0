"""The demo model and the demo recipe (`make demo`): offline, real training, a real answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run(args, cwd, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_tiny_chat_is_registered_and_small():
    from swiftk.host import PluginHost
    from swiftk_demo import MODEL_DIR

    host = PluginHost()
    meta = host.get("models", "tiny_chat")
    assert meta.model_groups[0].models[0].model_path == MODEL_DIR
    size = sum(f.stat().st_size for f in Path(MODEL_DIR).iterdir())
    assert size < 8 * 2**20, f"the demo model is {size / 2**20:.1f} MiB"
    assert "tiny_chat" in host.registry("templates")


def test_tiny_chat_answers_offline(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps({"messages": [{"role": "user", "content": q}]}, ensure_ascii=False)
            for q in ("What is 3 + 4?", "Who are you?", "What color is grass?")
        )
        + "\n"
    )
    proc = run(
        [
            "infer",
            "--model",
            "swiftk/tiny-chat",
            "--val_dataset",
            str(questions),
            "--max_new_tokens",
            "24",
            "--temperature",
            "0",
            "--max_batch_size",
            "3",
            "--result_path",
            str(tmp_path / "r.jsonl"),
        ],
        tmp_path,
    )
    answers = [json.loads(l)["response"] for l in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert "7" in answers[0]
    assert "Tiny Chat" in answers[1]
    assert "green" in answers[2].lower()
    assert "result_path" in proc.stdout


@pytest.mark.slow
def test_demo_recipe_learns_the_names_it_is_given(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    proc = run(
        ["run", "examples/self_cognition.yaml", "--model_name", "小A", "Little A", "--model_author", "某人", "Someone"],
        tmp_path,
        timeout=900,
    )
    results = list((tmp_path / "output" / "self-cognition").rglob("infer_result/*.jsonl"))
    assert len(results) == 1, proc.stdout[-2000:]
    answers = {
        json.loads(l)["messages"][0]["content"]: json.loads(l)["response"] for l in results[0].read_text().splitlines()
    }
    assert "Little A" in answers["who are you?"], answers
    assert "小A" in answers["你是谁？"], answers
