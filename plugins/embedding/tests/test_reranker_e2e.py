"""``--task_type reranker`` (a one-label score head, pointwise BCE) and ``generative_reranker`` (the yes-minus-no
logit of the causal LM, listwise loss) end to end on the tiny demo model: one LoRA run each, shared by the checks
that the loss falls on a repeated batch, ``swiftk infer`` scores each (query, document) row, and ``swiftk deploy``'s
``/v1/rerank`` orders documents by the same scores."""

from __future__ import annotations

import json
import math

import httpx
import pytest

import embedding_helpers as h
from swiftk_infer.testing import DeployProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

#: the tiny vocabulary has no "yes"/"no" tokens: the generative reranker reads two it has
TOKENS = {"GENERATIVE_RERANKER_POSITIVE_TOKEN": "Ġgood", "GENERATIVE_RERANKER_NEGATIVE_TOKEN": "Ġb"}
LOSS = {"reranker": "reranker", "generative_reranker": "listwise_generative_reranker"}
QUERY = "Tell me about apple"
DOCUMENTS = ["river facts", "apple facts", "music facts", "stone facts"]


@pytest.fixture(scope="module", params=["reranker", "generative_reranker"])
def run(request, tmp_path_factory) -> dict:
    task = request.param
    folder = tmp_path_factory.mktemp(task)
    data = h.write(folder / "train.jsonl", h.reranker_rows(4))
    pairs = h.write(
        folder / "pairs.jsonl",
        [{"messages": h.user(QUERY) + [{"role": "assistant", "content": d}], "label": int(i == 1)}
         for i, d in enumerate(DOCUMENTS)],
    )  # fmt: skip
    out, result = folder / "run", folder / "result.jsonl"
    env = {**h.OFFLINE, **(TOKENS if task == "generative_reranker" else {})}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        explicit = [] if task == "reranker" else ["--loss_type", LOSS[task]]  # reranker: ms-swift's default loss
        h.swiftk("sft", *h.COMMON, "--task_type", task, *explicit, "--dataset", str(data), "--max_steps", "4",
                 "--per_device_train_batch_size", "4", "--save_steps", "4", "--output_dir", str(out),
            "--val_dataset", str(data), "--eval_steps", "4")  # fmt: skip
        h.swiftk("infer", "--adapters", str(out / "checkpoint-4"), "--val_dataset", str(pairs),
                 "--result_path", str(result))  # fmt: skip
    rows = [json.loads(line) for line in result.read_text().splitlines()]
    return {"task": task, "out": out, "ckpt": out / "checkpoint-4", "rows": rows, "env": env}


def test_training_resolves_the_loss_and_it_falls(run):
    saved = json.loads((run["out"] / "args.json").read_text())
    assert (saved["task_type"], saved["loss_type"]) == (run["task"], LOSS[run["task"]])
    losses = h.losses(run["out"])
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0], losses
    logged = [json.loads(line) for line in (run["out"] / "logging.jsonl").read_text().splitlines()]
    evaluated = [e for e in logged if "eval_loss" in e][-1]
    assert 0 < evaluated["eval_mrr"] <= 1 and 0 < evaluated["eval_ndcg"] <= 1


def test_infer_scores_each_query_document_row(run):
    rows = run["rows"]
    assert len(rows) == len(DOCUMENTS)
    for row, document, i in zip(rows, DOCUMENTS, range(len(DOCUMENTS))):
        score = json.loads(row["response"])
        assert isinstance(score, float) and 0.0 < score < 1.0  # sigmoid (--reranker_use_activation true)
        assert row["messages"][1]["content"] == document  # the whole pair was scored, not just the query
        assert json.loads(row["labels"]) == int(i == 1)


def test_deploy_reranks_with_the_in_process_scores(run):
    expected = [json.loads(r["response"]) for r in run["rows"]]
    with DeployProcess(["--adapters", str(run["ckpt"])], env=run["env"]) as server:
        assert httpx.get(f"{server.base_url}/models", timeout=30).json()["data"][0]["task"] == run["task"]
        body = httpx.post(f"{server.base_url}/rerank", json={"query": QUERY, "documents": DOCUMENTS}, timeout=60).json()
        order = [r["index"] for r in body["results"]]
        assert order == sorted(range(len(DOCUMENTS)), key=lambda i: -expected[i])
        for result in body["results"]:
            assert result["relevance_score"] == pytest.approx(expected[result["index"]], abs=1e-5)
            assert result["document"] == {"text": DOCUMENTS[result["index"]]}
        assert body["usage"]["total_tokens"] > 0

        # Cohere/Jina's documents as objects, top_n, return_documents false; the /v2 spelling
        top = httpx.post(
            f"{server.base_url.removesuffix('/v1')}/v2/rerank",
            json={"query": QUERY, "documents": [{"text": d} for d in DOCUMENTS], "top_n": 2, "return_documents": False},
            timeout=60,
        ).json()["results"]
        assert [r["index"] for r in top] == order[:2] and all("document" not in r for r in top)

        assert httpx.post(f"{server.base_url}/embeddings", json={"input": "x"}, timeout=30).status_code == 404
        bad = httpx.post(f"{server.base_url}/rerank", json={"query": QUERY, "documents": []}, timeout=30)
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "documents"


def test_a_token_outside_the_vocabulary_is_one_line(tmp_path, monkeypatch):
    from swiftk.api import UsageError

    for key, value in h.OFFLINE.items():
        monkeypatch.setenv(key, value)
    data = h.write(tmp_path / "d.jsonl", h.reranker_rows(2))
    with pytest.raises(UsageError, match=r"GENERATIVE_RERANKER_POSITIVE_TOKEN=yes: not a token of the model's vocab"):
        h.swiftk("sft", *h.COMMON, "--task_type", "generative_reranker", "--dataset", str(data), "--max_steps", "1",
                 "--output_dir", str(tmp_path / "out"))  # fmt: skip
