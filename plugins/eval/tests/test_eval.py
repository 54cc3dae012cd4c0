"""``swiftk eval``: scores checked by hand against a server that always gives the same answer (a real HTTP
server, evalscope run for real), ``--eval_url`` against ``swiftk deploy`` with an API key, the local
deployment, one-line errors, a third-party backend, and the shipped benchmarks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from swiftk_eval.testing import FixedServer
from swiftk_eval.demo_benchmarks import DATA_DIR, write_all

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "contrib" / "swiftk-example-eval"
ENV_DROP = ("SWIFTK_EVAL_DATA", "SWIFTK_EVAL_API_KEY")


def swiftk(*args, env=None, cwd=None, timeout=600):
    full = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    full.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}, **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "swiftk", *map(str, args)], capture_output=True, text=True, env=full, cwd=cwd,
        timeout=timeout,
    )  # fmt: skip


def one_line_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


def rows(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def result_of(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout[-2000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("[swiftk] eval_result: "))
    return json.loads(Path(line.split(": ", 1)[1]).read_text())


def test_the_shipped_benchmarks_are_what_the_script_writes(tmp_path):
    written = write_all(str(tmp_path))
    for path in written:
        shipped = Path(DATA_DIR) / Path(path).relative_to(tmp_path)
        assert shipped.read_text(encoding="utf-8") == Path(path).read_text(encoding="utf-8"), shipped
    assert len(rows(Path(DATA_DIR) / "demo-gsm8k" / "main" / "test.jsonl")) == 40
    assert all(r["answer"] in "ABCD" for r in rows(Path(DATA_DIR) / "demo-mcq" / "default_val.jsonl"))


QA_ROWS = [
    {"query": "q1", "response": "Paris is the capital."},
    {"query": "q2", "response": "Paris is the capital."},
    {"query": "q3", "response": "Blue sky today"},
    {"query": "q4", "response": "Blue sky today"},
]


@pytest.mark.slow
def test_scores_match_a_hand_computed_check(tmp_path):
    """The server answers '\\boxed{7}' and 'ANSWER: A' to everything: gsm8k accuracy is the share of problems
    whose answer is 7, multiple choice the share whose answer is A; the QA rows' expected answer is the
    server's answer on half of them and shares no word with it on the other half."""
    answer = "Paris is the capital."
    qa = tmp_path / "my_qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in QA_ROWS))
    all_right = tmp_path / "all_right.jsonl"  # a second file of the same folder: scored on its own
    all_right.write_text("".join(json.dumps({"query": f"r{i}", "response": answer}) + "\n" for i in range(3)))
    gsm = rows(Path(DATA_DIR) / "demo-gsm8k" / "main" / "test.jsonl")
    mcq = rows(Path(DATA_DIR) / "demo-mcq" / "default_val.jsonl")
    fixed = f"{answer} So the answer is \\boxed{{7}}.\nANSWER: A"
    with FixedServer(fixed, model="org/fixed:1", api_key="sk-eval-secret") as server:
        # two runs: the QA rows need the server's answer alone
        out = tmp_path / "out"
        proc = swiftk(
            "eval", "--eval_url", server.url, "--api_key", "sk-eval-secret", "--eval_dataset", "swiftk/demo-gsm8k",
            "swiftk/demo-mcq", "--eval_output_dir", out, "--eval_num_proc", "4", "--temperature", "0.7",
        )  # fmt: skip
        result = result_of(proc)
        n_requests = len(server.requests)
        server.answer = answer
        proc_qa = swiftk("eval", "--eval_url", server.url, "--api_key", "sk-eval-secret", "--eval_dataset", qa,
                         all_right, "--eval_output_dir", out)  # fmt: skip
        qa_result = result_of(proc_qa)
    scores = result["results"]
    assert scores["swiftk/demo-gsm8k"]["accuracy"] == pytest.approx(
        sum(r["answer"].endswith("#### 7") for r in gsm) / 40
    )
    assert scores["swiftk/demo-mcq"]["accuracy"] == pytest.approx(sum(r["answer"] == "A" for r in mcq) / len(mcq))
    assert list(scores["swiftk/demo-gsm8k"])[0] == "accuracy"  # the primary metric first
    qa_scores = qa_result["results"][str(qa)]
    for metric in ("rouge-1-recall", "rouge-l-recall", "rouge-l-f1", "bleu-1"):
        assert qa_scores[metric] == pytest.approx(0.5, abs=1e-3), (metric, qa_scores)
        assert qa_result["results"][str(all_right)][metric] == pytest.approx(1.0, abs=1e-3), metric
    # every request carried the key (the server refuses others), temperature 0, and gsm8k its 4 shots
    assert n_requests == 40 + len(mcq)
    assert all(r["temperature"] == 0.7 for r in server.requests[:n_requests])
    assert all(r["temperature"] == 0 for r in server.requests[n_requests:])  # eval's default
    gsm_prompts = [r["messages"][-1]["content"] for r in server.requests[:n_requests] if "####" not in str(r)]
    assert any("Here are some examples" in p for p in gsm_prompts)
    # the record, the table, evalscope's reports and what was asked, kept; the key nowhere on disk
    assert result["eval_url"] == server.url and result["served_model_name"] == "org/fixed:1"
    assert result["eval_dataset"] == ["swiftk/demo-gsm8k", "swiftk/demo-mcq"] and result["seconds"] > 0
    assert "| swiftk/demo-mcq | accuracy |" in proc.stdout
    folder = Path(proc.stdout.split("[swiftk] eval_result: ")[1].split()[0]).parent
    assert (folder / "reports").is_dir() and (folder / "predictions").is_dir() and (folder / "reviews").is_dir()
    for path in out.rglob("*"):
        if path.is_file():
            assert "sk-eval-secret" not in path.read_text(errors="replace"), path
    assert "sk-eval-secret" not in proc.stdout + proc.stderr


def test_a_wrong_key_and_no_server_are_one_line(tmp_path):
    with FixedServer("x", api_key="right") as server:
        line = one_line_error(swiftk("eval", "--eval_url", server.url, "--api_key", "wrong",
                                     "--eval_dataset", "swiftk/demo-qa", "--eval_output_dir", tmp_path))  # fmt: skip
    assert f"--eval_url {server.url}: GET /models answered 401" in line and "--api_key" in line
    line = one_line_error(swiftk("eval", "--eval_url", "http://127.0.0.1:9/v1", "--eval_dataset", "swiftk/demo-qa",
                                 "--eval_output_dir", tmp_path))  # fmt: skip
    assert "--eval_url http://127.0.0.1:9/v1: no OpenAI-compatible server answers there" in line


def test_missing_benchmark_data_is_one_line_before_any_model_loads(tmp_path):
    proc = swiftk("eval", "--model", "no/such-model", "--eval_dataset", "gsm8k", "--eval_output_dir", tmp_path,
                  cwd=tmp_path)  # fmt: skip
    line = one_line_error(proc)
    assert "--eval_dataset gsm8k: its data is not here and the hub is offline" in line
    assert "Hugging Face layout" in line and "--local_dataset true" in line
    assert not list(tmp_path.iterdir())  # refused before a run folder or a model was made
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "qa.jsonl").write_text(json.dumps(QA_ROWS[0]) + "\n")
    line = one_line_error(swiftk("eval", "--model", "no/such-model", "--eval_dataset", "a/qa.jsonl", "b/qa.jsonl",
                                 cwd=tmp_path))  # fmt: skip
    assert "--eval_dataset: b/qa.jsonl and another entry are both evalscope's 'general_qa' from different" in line
    (tmp_path / "a" / "qa_test.jsonl").write_text(json.dumps(QA_ROWS[1]) + "\n")  # what evalscope would read
    line = one_line_error(swiftk("eval", "--model", "no/such-model", "--eval_dataset", "a/qa.jsonl", cwd=tmp_path))
    assert "--eval_dataset a/qa.jsonl: EvalScope would read qa_test.jsonl beside it instead" in line
    (tmp_path / "rows.json").write_text(json.dumps(QA_ROWS))
    line = one_line_error(swiftk("eval", "--model", "no/such-model", "--eval_dataset", "rows.json", cwd=tmp_path))
    assert "--eval_dataset rows.json: EvalScope reads .jsonl, .csv, .tsv files of your own" in line
    line = one_line_error(swiftk("eval", "--model", "no/such-model", "--eval_dataset", "gsm9k", cwd=tmp_path))
    assert "--eval_dataset gsm9k: neither a benchmark EvalScope knows" in line
    line = one_line_error(swiftk("eval", "--model", "no/such-model", "--eval_dataset", "swiftk/demo-qa",
                                 "--eval_backend", "OpenCompass", cwd=tmp_path))  # fmt: skip
    assert "--eval_backend OpenCompass is not supported by swift-plugin-eval: OpenCompass forces numpy < 2" in line
    line = one_line_error(swiftk("eval", "--model", "no/such-model", "--eval_backend", "VLMEvalKit", cwd=tmp_path))
    assert "VLMEvalKit replaces the installed CPU torch with a CUDA build" in line


@pytest.mark.slow
def test_a_named_benchmark_evaluates_from_its_local_data(tmp_path):
    """``gsm8k`` itself (evalscope's benchmark, few-shot from its train split) from a folder in its Hugging
    Face layout: ./data/gsm8k with --local_dataset true, as ms-swift keeps it."""
    shutil.copytree(Path(DATA_DIR) / "demo-gsm8k", tmp_path / "data" / "gsm8k")
    with FixedServer("\\boxed{7}") as server:
        proc = swiftk("eval", "--eval_url", server.url, "--eval_dataset", "gsm8k", "--local_dataset", "true",
                      "--eval_limit", "10", "--eval_output_dir", tmp_path / "out", cwd=tmp_path)  # fmt: skip
        result = result_of(proc)
    first = rows(tmp_path / "data" / "gsm8k" / "main" / "test.jsonl")[:10]
    assert result["results"]["gsm8k"]["accuracy"] == pytest.approx(
        sum(r["answer"].endswith("#### 7") for r in first) / 10
    )
    assert result["eval_limit"] == 10 and len(server.requests) == 10


@pytest.mark.slow
def test_a_contrib_backend_is_selectable(tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(r) + "\n" for r in QA_ROWS))
    with FixedServer("paris is the capital. ") as server:
        proc = swiftk("eval", "--external_plugins", EXAMPLE / "swiftk_example_eval" / "plugin.py",
                      "--eval_backend", "exact_match", "--eval_url", server.url, "--eval_dataset", qa,
                      "--eval_output_dir", tmp_path / "out", env={"PYTHONPATH": str(EXAMPLE)})  # fmt: skip
        result = result_of(proc)
    assert result["results"] == {str(qa): {"exact_match": 0.5}} and result["eval_backend"] == "exact_match"
    assert len(server.requests) == 4


@pytest.mark.slow
def test_eval_url_against_swiftk_deploy_with_an_api_key(tmp_path):
    from swiftk_infer.testing import DeployProcess

    deploy = DeployProcess(
        ["--model", "swiftk/tiny-chat", "--api_key", "sk-deploy", "--verbose", "false"], env={"OMP_NUM_THREADS": "1"}
    ).start()
    try:
        proc = swiftk("eval", "--eval_url", deploy.base_url, "--api_key", "sk-deploy", "--eval_dataset",
                      "swiftk/demo-mcq", "--eval_limit", "4", "--eval_output_dir", tmp_path)  # fmt: skip
        result = result_of(proc)
    finally:
        deploy.stop()
    assert result["served_model_name"] == "tiny-chat"
    assert 0.0 <= result["results"]["swiftk/demo-mcq"]["accuracy"] <= 1.0
    predictions = list((tmp_path).rglob("predictions/*/general_mcq_default.jsonl"))
    assert predictions and len(rows(predictions[0])) == 4


@pytest.mark.slow
def test_the_model_is_deployed_locally_for_the_run_and_stopped(tmp_path):
    proc = swiftk("eval", "--model", "swiftk/tiny-chat", "--eval_dataset", "swiftk/demo-qa", "swiftk/demo-gsm8k",
                  "--eval_limit", "3", "--max_new_tokens", "16", "--eval_output_dir", tmp_path / "out",
                  cwd=tmp_path)  # fmt: skip
    result = result_of(proc)
    assert result["model"] == "swiftk/tiny-chat" and result["served_model_name"] == "tiny-chat"
    assert set(result["results"]) == {"swiftk/demo-qa", "swiftk/demo-gsm8k"}
    assert "POST /v1/chat/completions" not in proc.stdout  # --verbose false: no request lines
    assert "evaluating tiny-chat served at http://127.0.0.1:" in proc.stdout
    reviews = list((tmp_path / "out").rglob("reviews/*/general_qa_default.jsonl"))
    assert reviews and len(rows(reviews[0])) == 3
