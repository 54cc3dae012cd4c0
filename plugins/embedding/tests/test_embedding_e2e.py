"""``--task_type embedding`` end to end on the tiny demo model: one LoRA run (infonce, ms-swift's data form) shared by
the checks that the loss falls on a repeated batch, the checkpoint reloads, ``swiftk infer`` writes each row's
embedding, the vectors are the backbone's normalised last-token state (computed here with transformers and peft
alone), and ``swiftk deploy`` answers ``/v1/embeddings`` and ``/v1/rerank`` with the same vectors."""

from __future__ import annotations

import base64
import json
import math
import struct
from pathlib import Path

import httpx
import pytest

import embedding_helpers as h
from swiftk_infer.testing import DeployProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    """Four rows in one batch of four: every step sees the same batch, so the loss must fall."""
    folder = tmp_path_factory.mktemp("embedding")
    data = h.write(folder / "train.jsonl", h.embedding_rows(4))
    out = folder / "run"
    with pytest.MonkeyPatch.context() as mp:
        for key, value in h.OFFLINE.items():
            mp.setenv(key, value)
        h.swiftk("sft", *h.COMMON, "--task_type", "embedding", "--dataset", str(data), "--max_steps", "4",
                 "--per_device_train_batch_size", "4", "--save_steps", "4", "--output_dir", str(out),
            "--val_dataset", str(data), "--eval_steps", "4")  # fmt: skip
        result = folder / "result.jsonl"
        h.swiftk("infer", "--adapters", str(out / "checkpoint-4"), "--val_dataset", str(data),
                 "--result_path", str(result))  # fmt: skip
    rows = [json.loads(line) for line in result.read_text().splitlines()]
    return {"data": data, "out": out, "ckpt": out / "checkpoint-4", "rows": rows}


def test_training_resolves_infonce_and_the_loss_falls(run):
    saved = json.loads((run["out"] / "args.json").read_text())
    assert (saved["task_type"], saved["loss_type"]) == ("embedding", "infonce")  # ms-swift's default loss
    losses = h.losses(run["out"])
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] * 0.8, losses
    evaluated = [json.loads(line) for line in (run["out"] / "logging.jsonl").read_text().splitlines()]
    evaluated = [e for e in evaluated if "eval_loss" in e][-1]  # ms-swift's infonce metrics on the trained rows
    assert evaluated["eval_margin"] > 0 and evaluated["eval_mean_pos"] > evaluated["eval_mean_neg"]


def test_infer_writes_each_rows_embedding(run):
    rows = run["rows"]
    assert len(rows) == 4
    for row, source in zip(rows, h.embedding_rows(4)):
        vector = json.loads(row["response"])
        assert len(vector) == 128 and math.isclose(sum(v * v for v in vector), 1.0, rel_tol=1e-4)
        assert row["messages"][0] == source["messages"][0] and row["labels"] is None


def test_vectors_are_the_normalised_last_token_state(run):
    """The same vector from transformers + peft directly: the backbone's state at the prompt's last token."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import swiftk_demo

    tokenizer = AutoTokenizer.from_pretrained(swiftk_demo.MODEL_DIR)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(swiftk_demo.MODEL_DIR), run["ckpt"]).eval()
    text = tokenizer.apply_chat_template(h.embedding_rows(1)[0]["messages"], tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        state = model.get_base_model().model(**ids).last_hidden_state[0, -1]
    expected = torch.nn.functional.normalize(state, dim=-1).tolist()
    assert json.loads(run["rows"][0]["response"]) == pytest.approx(expected, abs=1e-5)


def test_deploy_answers_embeddings_and_rerank_with_the_same_vectors(run):
    texts = [r["messages"][0]["content"] for r in h.embedding_rows(4)]
    expected = [json.loads(r["response"]) for r in run["rows"]]
    with DeployProcess(["--adapters", str(run["ckpt"])], env=h.OFFLINE) as server:
        assert httpx.get(f"{server.base_url}/models", timeout=30).json()["data"][0]["task"] == "embedding"
        body = httpx.post(f"{server.base_url}/embeddings", json={"input": texts}, timeout=60).json()
        assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1, 2, 3]
        for item, vector in zip(body["data"], expected):
            assert item["object"] == "embedding" and item["embedding"] == pytest.approx(vector, abs=1e-5)
        assert body["usage"]["prompt_tokens"] > 0

        packed = httpx.post(
            f"{server.base_url}/embeddings", json={"input": texts[0], "encoding_format": "base64"}, timeout=60
        ).json()["data"][0]["embedding"]
        raw = base64.b64decode(packed)
        assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == pytest.approx(expected[0], abs=1e-5)

        # an embedding model reranks by cosine similarity: the scores are the dot products of the vectors
        rerank = httpx.post(
            f"{server.base_url}/rerank", json={"query": texts[0], "documents": texts[1:]}, timeout=60
        ).json()
        dots = [sum(a * b for a, b in zip(expected[0], v)) for v in expected[1:]]
        assert [r["index"] for r in rerank["results"]] == sorted(range(3), key=lambda i: -dots[i])
        for result in rerank["results"]:
            assert result["relevance_score"] == pytest.approx(dots[result["index"]], abs=1e-5)
            assert result["document"]["text"] == texts[1:][result["index"]]

        bad = httpx.post(f"{server.base_url}/embeddings", json={"input": [1, 2]}, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "input"


def test_a_row_without_positives_is_one_line(tmp_path, monkeypatch):
    from swiftk.api import UsageError

    for key, value in h.OFFLINE.items():
        monkeypatch.setenv(key, value)
    rows = h.embedding_rows(2)
    del rows[1]["positive_messages"]
    data = h.write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(UsageError, match=r"--dataset .*bad.jsonl:2: no 'positive_messages'; --task_type embedding"):
        h.swiftk("sft", *h.COMMON, "--task_type", "embedding", "--dataset", str(data), "--max_steps", "1",
                 "--output_dir", str(tmp_path / "out"))  # fmt: skip


@pytest.mark.parametrize(
    ("task", "extra", "message"),
    [
        (
            "embedding",
            ["--loss_type", "reranker"],
            r"--loss_type reranker: does not fit --task_type embedding; valid: ",
        ),
        ("reranker", ["--loss_type", "infonce"], r"--loss_type infonce: does not fit --task_type reranker; valid: "),
        ("embedding", ["--packing", "true"], r"--packing true: not supported with --task_type embedding"),
    ],
)
def test_refused_before_loading(task, extra, message, tmp_path):
    from swiftk.api import UsageError

    data = h.write(tmp_path / "d.jsonl", h.embedding_rows(2))
    with pytest.raises(UsageError, match=message):
        h.swiftk("sft", *h.COMMON, "--task_type", task, "--dataset", str(data), *extra,
                 "--output_dir", str(tmp_path / "out"))  # fmt: skip


def test_a_bad_infonce_variable_is_one_line(tmp_path, monkeypatch):
    from swiftk.api import UsageError

    monkeypatch.setenv("INFONCE_TEMPERATURE", "warm")
    data = h.write(tmp_path / "d.jsonl", h.embedding_rows(2))
    with pytest.raises(UsageError, match=r"INFONCE_TEMPERATURE=warm: must be a number > 0"):
        h.swiftk("sft", *h.COMMON, "--task_type", "embedding", "--dataset", str(data),
                 "--output_dir", str(tmp_path / "out"))  # fmt: skip


def test_pair_losses_train_a_step(tmp_path, monkeypatch):
    """cosine_similarity, contrastive and online_contrastive read the row's label (ms-swift's pair form)."""
    for key, value in h.OFFLINE.items():
        monkeypatch.setenv(key, value)
    rows = [
        {"messages": h.user(f"{w} one"), "positive_messages": [h.user(f"{w} two")], "label": i % 2}
        for i, w in enumerate(h.WORDS[:4])
    ]
    data = h.write(tmp_path / "pairs.jsonl", rows)
    for loss in ("cosine_similarity", "contrastive", "online_contrastive"):
        out = tmp_path / loss
        h.swiftk("sft", *h.COMMON, "--task_type", "embedding", "--loss_type", loss, "--dataset", str(data),
                 "--max_steps", "1", "--per_device_train_batch_size", "4", "--output_dir", str(out))  # fmt: skip
        assert all(math.isfinite(v) for v in h.losses(out)) and (out / "checkpoint-1").is_dir()
    del rows[0]["label"]
    from swiftk.api import UsageError

    with pytest.raises(UsageError, match=r"pairs.jsonl:1: no 'label'; --loss_type contrastive needs one per row"):
        h.swiftk("sft", *h.COMMON, "--task_type", "embedding", "--loss_type", "contrastive",
                 "--dataset", str(h.write(tmp_path / "pairs.jsonl", rows)), "--output_dir", str(tmp_path / "x"))  # fmt: skip


def test_the_kernel_names_the_plugin_for_a_task_type(tmp_path):
    from swiftk.api import MissingPluginError
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    data = h.write(tmp_path / "d.jsonl", h.embedding_rows(2))
    with (
        HostScope(autoload=False),
        pytest.raises(MissingPluginError, match=r"--task_type embedding: .* pip install swift-plugin-embedding"),
    ):
        invoke("sft", [*h.COMMON, "--task_type", "embedding", "--dataset", str(data),
                       "--output_dir", str(Path(tmp_path) / "out")], launch=False)  # fmt: skip
