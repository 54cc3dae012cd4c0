"""Sequence classifiers and reward models through every command: a tiny single-label, multi-label,
regression (``--num_labels``, ``swiftk sft``) and reward (``swiftk rlhf --rlhf_type rm``) checkpoint, LoRA
and full, is served by ``swiftk infer`` (the labels and ``--metric acc`` over a labelled dataset) and
``swiftk deploy`` (a chat request answered with the label or score, ``/v1/models`` naming the task), with
no ``--infer_backend``: the checkpoint's records and config.json say what it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from swiftk_infer.testing import DeployProcess

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRL_EXPERIMENTAL_SILENCE": "1", "OMP_NUM_THREADS": "1"}
WORDS = ["good", "bad", "fine", "awful", "great", "sad"]
COMMON = [
    "--model", "swiftk/tiny-chat", "--split_dataset_ratio", "0", "--max_steps", "2", "--save_steps", "2",
    "--per_device_train_batch_size", "4", "--learning_rate", "1e-3", "--gradient_checkpointing", "false",
    "--dataloader_num_workers", "0", "--add_version", "false", "--report_to", "none", "--disable_tqdm", "true",
]  # fmt: skip

#: problem -> (--num_labels, the label of row i)
PROBLEMS = {
    "single": (3, lambda i: i % 3),
    "multi": (3, lambda i: sorted({i % 3, (i + 1) % 3})),  # several class indices per row
    "regression": (1, lambda i: 0.5 * (i % 3)),
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)


def swiftk(command: str, *argv: str) -> None:
    """``swiftk COMMAND argv`` in this process (the imports are paid once)."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        code, _ = invoke(command, list(argv), launch=False)
    assert code == 0


def labelled(path: Path, problem: str, n: int = 6) -> Path:
    label = PROBLEMS[problem][1]
    rows = [{"messages": [{"role": "user", "content": f"This is {WORDS[i]}."}], "label": label(i)} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def checkpoint_flags(out: Path, train_type: str) -> list[str]:
    ckpt = out / "checkpoint-2" if (out / "checkpoint-2").is_dir() else out / "checkpoint-1"
    assert (ckpt / ("adapter_model.safetensors" if train_type == "lora" else "model.safetensors")).is_file()
    return ["--adapters", str(ckpt)] if train_type == "lora" else ["--model", str(ckpt)]


def infer_rows(tmp_path: Path, capsys, flags: list[str], data: Path) -> tuple[list[dict], float]:
    """``swiftk infer flags --val_dataset data --metric acc``: the result rows and the accuracy it printed."""
    result = tmp_path / "result.jsonl"
    capsys.readouterr()
    swiftk("infer", *flags, "--val_dataset", str(data), "--metric", "acc", "--result_path", str(result))
    printed = capsys.readouterr().out
    acc = float(re.search(r"\[swiftk\] acc: acc=([0-9.]+)", printed).group(1))
    return [json.loads(line) for line in result.read_text().splitlines()], acc


def chat(server: DeployProcess, messages: list[dict], **extra) -> dict:
    model = httpx.get(f"{server.base_url}/models", timeout=30).json()["data"][0]["id"]
    body = {"model": model, "messages": messages, **extra}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)
    assert response.status_code == 200, response.text
    return response.json() if not extra.get("stream") else response.text


def check_prediction(problem: str, text: str) -> None:
    value = json.loads(text)
    if problem == "single":
        assert isinstance(value, int) and 0 <= value < 3
    elif problem == "multi":
        assert isinstance(value, list) and all(isinstance(v, int) and 0 <= v < 3 for v in value)
    else:
        assert isinstance(value, float) and re.fullmatch(r"-?\d+\.\d{4}", text)


@pytest.mark.parametrize("train_type", ["lora", "full"])
@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_classifier_trains_infers_and_deploys(problem, train_type, tmp_path, capsys):
    num_labels, _ = PROBLEMS[problem]
    data = labelled(tmp_path / f"{problem}.jsonl", problem)
    out = tmp_path / "run"
    swiftk("sft", *COMMON, "--num_labels", str(num_labels), "--dataset", str(data), "--train_type", train_type,
           "--output_dir", str(out))  # fmt: skip
    saved = json.loads((out / "args.json").read_text())
    expected = {"single": "single_label_classification", "multi": "multi_label_classification"}
    assert (saved["task_type"], saved["problem_type"]) == ("seq_cls", expected.get(problem, "regression"))
    flags = checkpoint_flags(out, train_type)

    # swiftk infer: each row's prediction in ms-swift's form, its label written alike, the accuracy
    rows, acc = infer_rows(tmp_path, capsys, flags, data)
    assert len(rows) == 6
    for row, i in zip(rows, range(6)):
        check_prediction(problem, row["response"])
        assert json.loads(row["labels"]) == pytest.approx(PROBLEMS[problem][1](i))
        assert row["messages"][-1] == {"role": "assistant", "content": row["response"]}
        if problem == "regression":
            assert row["logprobs"] is None
        else:  # every label's log-probability, best first
            top = row["logprobs"]["content"][0]["top_logprobs"]
            assert sorted(t["index"] for t in top) == [0, 1, 2]
            assert [t["logprob"] for t in top] == sorted((t["logprob"] for t in top), reverse=True)
    assert acc == pytest.approx(sum(r["response"] == r["labels"] for r in rows) / len(rows), abs=1e-4)

    # swiftk deploy: a chat request answered with the label, as swiftk infer answered that row
    with DeployProcess(flags, env=OFFLINE) as server:
        models = httpx.get(f"{server.base_url}/models", timeout=30).json()["data"]
        assert models[0]["task"] == "seq_cls"
        body = chat(server, [{"role": "user", "content": "This is good."}])
        answer = body["choices"][0]["message"]["content"]
        check_prediction(problem, answer)
        assert answer == rows[0]["response"] and body["choices"][0]["finish_reason"] == "stop"
        if problem != "regression":
            assert body["choices"][0]["logprobs"]["content"][0]["index"] == json.loads(answer)
        streamed = chat(server, [{"role": "user", "content": "This is good."}], stream=True)
        assert json.dumps(answer)[1:-1] in streamed and "data: [DONE]" in streamed
    if problem == "multi" and train_type == "full":  # the reward backend scores one-output models only
        from swiftk.api import UsageError

        with pytest.raises(UsageError, match="--infer_backend reward: .* a classifier with 3 labels"):
            swiftk("infer", *flags, "--infer_backend", "reward", "--val_dataset", str(data))


@pytest.mark.parametrize("train_type", ["lora", "full"])
def test_reward_model_infers_and_deploys_its_score(train_type, tmp_path, capsys):
    out = tmp_path / "rm"
    swiftk("rlhf", *COMMON, "--rlhf_type", "rm", "--dataset", "swiftk/demo-dpo#8", "--train_type", train_type,
           "--output_dir", str(out))  # fmt: skip
    flags = checkpoint_flags(out, train_type)
    rows, acc = infer_rows(tmp_path, capsys, flags, labelled(tmp_path / "rm.jsonl", "regression"))
    for row in rows:  # the score of each conversation (the reward backend, picked from the run's records)
        check_prediction("regression", row["response"])
    assert 0.0 <= acc <= 1.0

    with DeployProcess(flags, env=OFFLINE) as server:
        assert httpx.get(f"{server.base_url}/models", timeout=30).json()["data"][0]["task"] == "reward"
        conversation = [{"role": "user", "content": "This is good."}, {"role": "assistant", "content": "Yes."}]
        scores = [chat(server, conversation)["choices"][0]["message"]["content"] for _ in range(2)]
        check_prediction("regression", scores[0])
        assert scores[0] == scores[1]  # a score, not a sample
        other = chat(server, conversation[:1] + [{"role": "assistant", "content": "No, it is awful."}])
        check_prediction("regression", other["choices"][0]["message"]["content"])


def test_list_labels_with_single_label_problem_type_is_one_line(tmp_path):
    from swiftk.api import UsageError

    data = labelled(tmp_path / "multi.jsonl", "multi")
    with pytest.raises(UsageError, match=r"--problem_type single_label_classification: .* is a list"):
        swiftk("sft", *COMMON, "--num_labels", "3", "--dataset", str(data), "--output_dir", str(tmp_path / "o"),
               "--problem_type", "single_label_classification")  # fmt: skip
