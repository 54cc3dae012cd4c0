"""The page's infer/deploy arguments on the demo model: --stream, --result_path, NPROC_PER_NODE with
--ddp_backend, --use_chat_template false, --merge_lora (real CLI, real server, real torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from swiftk.infer import InferRequest, RequestConfig

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
QUESTIONS = ["What is 3 + 4?", "Who are you?", "What color is grass?", "Count from 2 to 5.", "你好"]


def swiftk(*args, input_text=None, cwd=None, env=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args],
        capture_output=True,
        text=True,
        env={**ENV, **(env or {})},
        input=input_text,
        cwd=cwd,
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    return proc


def write_rows(path, questions):
    path.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}]}, ensure_ascii=False) + "\n" for q in questions
        )
    )
    return str(path)


def one_line_error(proc):
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stderr.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def engine():
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.pt_engine import PtEngine

    engine = PtEngine.from_args(resolve_arguments("infer", ["--model", "swiftk/tiny-chat"]))
    yield engine
    engine.close()


# --- --stream ------------------------------------------------------------------------------------


class Recorder:
    """sys.stdout that keeps every write: a streamed answer arrives in pieces, a whole one in one write."""

    def __init__(self):
        self.writes = []

    def write(self, text):
        self.writes.append(text)
        return len(text)

    def flush(self):
        pass


@pytest.mark.parametrize("stream", [False, True])
def test_stream_prints_the_answer_whole_or_in_pieces(engine, monkeypatch, tmp_path, stream):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.command import chat

    args = resolve_arguments(
        "infer",
        [
            "--model",
            "swiftk/tiny-chat",
            "--temperature",
            "0",
            "--max_new_tokens",
            "16",
            "--stream",
            str(stream).lower(),
            "--result_path",
            str(tmp_path / "c.jsonl"),
        ],
    )
    lines = iter(["Count from 2 to 5.", "exit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    assert chat(engine, args) == 0
    monkeypatch.undo()
    answer = (
        engine.infer(
            [InferRequest([{"role": "user", "content": "Count from 2 to 5."}])],
            RequestConfig(max_tokens=16, temperature=0),
        )[0]
        .choices[0]
        .message["content"]
    )
    assert len(answer) > 3 and answer in "".join(out.writes)
    start = out.writes.index(">>> ") + 1
    pieces = [w for w in out.writes[start : out.writes.index("\n", start)] if w]
    assert "".join(pieces) == answer
    assert (len(pieces) > 1) if stream else (pieces == [answer])


# --- --result_path ---------------------------------------------------------------------------------


def test_interactive_infer_appends_each_turn_to_the_result_path(tmp_path):
    path = tmp_path / "chat" / "turns.jsonl"
    out = swiftk(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--temperature",
        "0",
        "--max_new_tokens",
        "12",
        "--result_path",
        str(path),
        input_text="What is 3 + 4?\nWhat color is grass?\nexit\n",
    ).stdout
    assert f"result_path: {path}" in out
    turns = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(turns) == 2
    answers = [line.split(">>> ", 1)[1] for line in out.splitlines() if ">>> " in line]
    assert [t["response"] for t in turns] == answers
    assert [m["role"] for m in turns[1]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert turns[1]["messages"][:2] == turns[0]["messages"] and turns[1]["messages"][-1]["content"] == answers[1]


def test_deploy_logs_every_request_to_the_result_path(tmp_path):
    import httpx

    from swiftk_infer.testing import DeployProcess

    path = tmp_path / "deploy.jsonl"
    server = DeployProcess(
        ["--model", "swiftk/tiny-chat", "--max_batch_size", "8", "--result_path", str(path)],
        env={"OMP_NUM_THREADS": "1"},
    )
    with server:
        base = server.base_url

        def chat(question):
            body = {
                "model": "tiny-chat",
                "messages": [{"role": "user", "content": question}],
                "max_tokens": 12,
                "temperature": 0,
            }
            return question, httpx.post(f"{base}/chat/completions", json=body, timeout=120).json()

        with ThreadPoolExecutor(8) as pool:  # concurrent requests, each one line
            answers = dict(pool.map(chat, QUESTIONS * 2))
        body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8, "temperature": 0, "stream": True}
        with httpx.stream("POST", f"{base}/chat/completions", json=body, timeout=120) as response:
            events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
        streamed = "".join(
            json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1] if json.loads(e)["choices"]
        )
        completion = httpx.post(
            f"{base}/completions", json={"prompt": "The sky is", "max_tokens": 5, "temperature": 0}, timeout=120
        ).json()
        server.stop()  # SIGTERM: the writer writes what it holds, then the file is closed
        log = server.log()
    assert f"result_path: {path}" in log
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == len(QUESTIONS) * 2 + 2
    chats = [r for r in records if r["endpoint"] == "/v1/chat/completions" and not r["request"].get("stream")]
    assert len(chats) == len(QUESTIONS) * 2
    for record in chats:
        question = record["request"]["messages"][0]["content"]
        sent = answers[question]
        assert record["response"]["choices"][0]["message"] == sent["choices"][0]["message"]
        assert record["prompt_tokens"] == sent["usage"]["prompt_tokens"] > 0
        assert record["completion_tokens"] == sent["usage"]["completion_tokens"] > 0
        assert record["latency"] > 0
    stream = next(r for r in records if r["request"].get("stream"))
    assert stream["response"]["choices"][0]["message"]["content"] == streamed
    assert stream["response"]["choices"][0]["finish_reason"] in ("stop", "length")
    assert stream["completion_tokens"] > 0
    cmpl = next(r for r in records if r["endpoint"] == "/v1/completions")
    assert cmpl["response"]["choices"][0]["text"] == completion["choices"][0]["text"]


# --- NPROC_PER_NODE / --ddp_backend -------------------------------------------------------------


@pytest.mark.slow
def test_nproc_per_node_shares_the_dataset_and_rank0_writes_one_merged_file(tmp_path):
    from swiftk_infer.testing import free_port

    data = write_rows(tmp_path / "q.jsonl", QUESTIONS)
    common = [
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--val_dataset",
        data,
        "--temperature",
        "0",
        "--max_new_tokens",
        "12",
    ]
    swiftk(*common, "--result_path", str(tmp_path / "one.jsonl"))
    proc = swiftk(
        *common,
        "--ddp_backend",
        "gloo",
        "--result_path",
        str(tmp_path / "two.jsonl"),
        env={"NPROC_PER_NODE": "2", "MASTER_PORT": str(free_port())},
    )
    out = proc.stdout
    assert "rank 0 of 2: answering 3 of 5 rows" in out and "rank 1 of 2: answering 2 of 5 rows" in out
    assert out.count("result_path: ") == 1
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()


def test_ddp_backend_without_torchrun_is_refused(tmp_path):
    proc = swiftk(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--val_dataset",
        write_rows(tmp_path / "q.jsonl", ["Hi"]),
        "--ddp_backend",
        "gloo",
        check=False,
    )
    line = one_line_error(proc)
    assert "--ddp_backend gloo" in line and "NPROC_PER_NODE" in line
    served = swiftk(
        "deploy",
        "--model",
        "swiftk/tiny-chat",
        "--ddp_backend",
        "gloo",
        "--host",
        "127.0.0.1",
        "--port",
        "1",
        check=False,
    )
    assert "--ddp_backend gloo: swiftk deploy serves from one process" in one_line_error(served)


# --- --use_chat_template false ----------------------------------------------------------------------


def test_use_chat_template_false_prompts_with_the_plain_text(engine):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.pt_engine import PtEngine

    plain = PtEngine.from_args(
        resolve_arguments("infer", ["--model", "swiftk/tiny-chat", "--use_chat_template", "false"])
    )
    try:
        messages = [{"role": "system", "content": "Numbers: "}, {"role": "user", "content": "1 2 3 4"}]
        config = RequestConfig(max_tokens=6, temperature=0)
        response = plain.infer([InferRequest(messages)], config)[0]
        chat_ids = engine.infer([InferRequest(messages)], config)[0].prompt_token_ids
        text_ids = list(plain.tokenizer("Numbers: 1 2 3 4")["input_ids"])
        assert response.prompt_token_ids == text_ids != chat_ids
        assert "<|im_start|>" not in plain.tokenizer.decode(response.prompt_token_ids)
        assert response.usage.completion_tokens > 0
    finally:
        plain.close()


# --- --merge_lora ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lora_checkpoint(tmp_path_factory):
    """A peft LoRA of tiny-chat with non-zero weights (it changes the answers)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from swiftk_demo import MODEL_DIR

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR)
    model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    folder = tmp_path_factory.mktemp("run") / "checkpoint-1"
    model.save_pretrained(str(folder))
    return folder


@pytest.mark.slow
def test_merge_lora_saves_the_merged_folder_once_and_answers_the_same(lora_checkpoint, tmp_path):
    import torch
    from peft import PeftModel
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_demo import MODEL_DIR
    from swiftk_infer.pt_engine import PtEngine
    from transformers import AutoModelForCausalLM

    data = write_rows(tmp_path / "q.jsonl", QUESTIONS[:3])
    common = [
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--adapters",
        str(lora_checkpoint),
        "--merge_lora",
        "true",
        "--val_dataset",
        data,
        "--temperature",
        "0",
        "--max_new_tokens",
        "12",
        "--max_shard_size",
        "1MB",
    ]
    out = swiftk(*common, "--result_path", str(tmp_path / "merged.jsonl")).stdout
    merged = str(lora_checkpoint) + "-merged"
    assert f"merged model saved to {merged}" in out
    index = json.loads(open(os.path.join(merged, "model.safetensors.index.json")).read())
    assert len(set(index["weight_map"].values())) > 1  # --max_shard_size
    assert not os.path.exists(merged + ".staging")

    # the folder loads with transformers and is the base model with the adapter folded in
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        folded = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
        unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(MODEL_DIR), str(lora_checkpoint))
        reference = unmerged(ids).logits
        base = AutoModelForCausalLM.from_pretrained(MODEL_DIR)(ids).logits
    assert torch.allclose(folded, reference, atol=1e-4) and not torch.allclose(folded, base, atol=1e-3)

    # the same greedy answers as the adapter applied unmerged
    engine = PtEngine.from_args(
        resolve_arguments("infer", ["--model", "swiftk/tiny-chat", "--adapters", str(lora_checkpoint)])
    )
    try:
        expected = [
            r.choices[0].message["content"]
            for r in engine.infer(
                [InferRequest([{"role": "user", "content": q}]) for q in QUESTIONS[:3]],
                RequestConfig(max_tokens=12, temperature=0),
            )
        ]
    finally:
        engine.close()
    answers = [json.loads(line)["response"] for line in (tmp_path / "merged.jsonl").read_text().splitlines()]
    assert answers == expected

    # a complete merged folder is reused, not merged again
    stamp = os.path.getmtime(os.path.join(merged, "config.json"))
    again = swiftk(*common, "--result_path", str(tmp_path / "again.jsonl")).stdout
    assert f"using the merged model {merged}" in again and "saved" not in again
    assert os.path.getmtime(os.path.join(merged, "config.json")) == stamp
    assert (tmp_path / "again.jsonl").read_text() == (tmp_path / "merged.jsonl").read_text()


def test_merge_lora_without_an_adapter_is_refused(tmp_path):
    proc = swiftk(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--merge_lora",
        "true",
        "--val_dataset",
        write_rows(tmp_path / "q.jsonl", ["Hi"]),
        check=False,
    )
    assert "--merge_lora true merges the unnamed --adapters" in one_line_error(proc)


# --- --write_batch_size (later ms-swift) --------------------------------------------------------------


def test_write_batch_size_answers_and_appends_chunk_by_chunk(engine, tmp_path):
    """`--write_batch_size 2` answers 5 rows as chunks of 2, 2, 1, each appended whole to <result_path>.partial
    before the next is answered; the file it becomes equals the one of `-1` (all at once), in the rows' order."""
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.command import infer_dataset

    data = write_rows(tmp_path / "q.jsonl", QUESTIONS)

    def run(size, name):
        argv = ["--model", "swiftk/tiny-chat", "--val_dataset", data, "--temperature", "0", "--max_new_tokens", "8",
                "--write_batch_size", str(size), "--result_path", str(tmp_path / name)]  # fmt: skip
        return resolve_arguments("infer", argv)

    seen = []  # (rows asked, complete lines already in the .partial file) at each call of the engine
    partial = tmp_path / "chunked.jsonl.partial"

    class Watching:
        def infer(self, requests, config, **kw):
            seen.append((len(requests), len(partial.read_text().splitlines())))
            return engine.infer(requests, config, **kw)

    assert infer_dataset(Watching(), run(2, "chunked.jsonl")) == 0
    assert seen == [(2, 0), (2, 2), (1, 4)] and not partial.exists()
    assert infer_dataset(engine, run(-1, "whole.jsonl")) == 0
    chunked = (tmp_path / "chunked.jsonl").read_text().splitlines()
    assert chunked == (tmp_path / "whole.jsonl").read_text().splitlines() and len(chunked) == 5
    assert [json.loads(line)["messages"][0]["content"] for line in chunked] == QUESTIONS
    error = one_line_error(swiftk("infer", "--model", "swiftk/tiny-chat", "--val_dataset", data,
                                  "--write_batch_size", "-5", check=False))  # fmt: skip
    assert "--write_batch_size -5: give a positive number of rows, or -1 for all at once" in error
