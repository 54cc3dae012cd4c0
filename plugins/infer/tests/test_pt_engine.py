"""The pt engine on the demo model: batching, streaming, stop words, logprobs, and `swiftk infer`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from swiftk.infer import InferRequest, RequestConfig

QUESTIONS = ["What is 3 + 4?", "Who are you?", "What color is grass?", "Count from 2 to 5.", "你好"]


@pytest.fixture(scope="module")
def engine():
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.pt_engine import PtEngine

    args = resolve_arguments("infer", ["--model", "swiftk/tiny-chat", "--max_batch_size", "4"])
    return PtEngine.from_args(args)


def ask(q):
    return InferRequest([{"role": "user", "content": q}])


def test_batched_greedy_equals_one_by_one(engine):
    greedy = RequestConfig(max_tokens=20, temperature=0)
    batched = [r.choices[0].message["content"] for r in engine.infer([ask(q) for q in QUESTIONS], greedy)]
    alone = [engine.infer([ask(q)], greedy)[0].choices[0].message["content"] for q in QUESTIONS]
    assert batched == alone
    assert "7" in batched[0]


def test_usage_and_finish_reason(engine):
    response = engine.infer([ask("Count from 2 to 5.")], RequestConfig(max_tokens=3, temperature=0))[0]
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 3 and response.usage.prompt_tokens > 5
    done = engine.infer([ask("What is 3 + 4?")], RequestConfig(max_tokens=40, temperature=0))[0]
    assert done.choices[0].finish_reason == "stop" and "<|im_end|>" not in done.choices[0].message["content"]


def test_token_ids_are_the_prompt_and_the_completion_with_its_end_token(engine):
    config = RequestConfig(max_tokens=20, temperature=0)
    response = engine.infer([ask(QUESTIONS[0])], config)[0]
    choice = response.choices[0]
    assert response.prompt_token_ids == list(
        engine.template.encode({"messages": [{"role": "user", "content": QUESTIONS[0]}]}, add_generation_prompt=True)[
            "input_ids"
        ]
    )
    assert choice.finish_reason == "stop" and choice.token_ids[-1] in engine._eos_ids()
    assert engine.tokenizer.decode(choice.token_ids[:-1]) == choice.message["content"]
    assert len(choice.token_ids) == response.usage.completion_tokens + 1
    cut = engine.infer([ask(QUESTIONS[0])], RequestConfig(max_tokens=3, temperature=0))[0].choices[0]
    assert cut.finish_reason == "length" and len(cut.token_ids) == 3  # no end token when cut short
    static = engine._static_infer([ask(QUESTIONS[0])], engine._merged(config), False)[0]
    assert static.choices[0].token_ids == choice.token_ids and static.prompt_token_ids == response.prompt_token_ids


def test_stop_words_are_kept_in_the_text(engine):
    full = engine.infer([ask("Count from 2 to 5.")], RequestConfig(max_tokens=20, temperature=0))[0]
    text = full.choices[0].message["content"]
    stop = text.split(",")[1].strip() if "," in text else text[:3]
    cut = engine.infer([ask("Count from 2 to 5.")], RequestConfig(max_tokens=20, temperature=0, stop=[stop]))[0]
    cut_text = cut.choices[0].message["content"]
    assert cut_text.endswith(stop) and len(cut_text) < len(text)


def test_streaming_gives_the_same_text(engine):
    greedy = RequestConfig(max_tokens=20, temperature=0)
    chunks = list(engine.infer_stream(ask("What color is grass?"), greedy))
    text = "".join(c.choices[0].delta.get("content", "") for c in chunks)
    assert text == engine.infer([ask("What color is grass?")], greedy)[0].choices[0].message["content"]
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].usage.completion_tokens > 0


def test_logprobs_and_sampling_seed(engine):
    response = engine.infer(
        [ask("What is 3 + 4?")], RequestConfig(max_tokens=5, temperature=0, logprobs=True, top_logprobs=3)
    )[0]
    content = response.choices[0].logprobs["content"]
    assert len(content) == response.usage.completion_tokens
    assert all(len(c["top_logprobs"]) == 3 and c["logprob"] <= 0 for c in content)
    assert content[0]["logprob"] == pytest.approx(content[0]["top_logprobs"][0]["logprob"])  # greedy = top-1
    sampled = RequestConfig(max_tokens=12, temperature=1.0, seed=123)
    a = engine.infer([ask("你好")], sampled)[0].choices[0].message["content"]
    b = engine.infer([ask("你好")], sampled)[0].choices[0].message["content"]
    assert a == b


def test_the_prefix_cache_changes_no_answer(engine, monkeypatch):
    import types

    import swiftk_infer.pt_engine as pt_engine

    configs = [
        RequestConfig(max_tokens=20, temperature=0),
        RequestConfig(max_tokens=12, temperature=1.0, seed=7),
        RequestConfig(max_tokens=12, temperature=0, repetition_penalty=1.3),
    ]

    def answers():
        out = []
        for config in configs:
            responses = engine.infer([ask(q) for q in QUESTIONS], config) + engine.infer([ask(QUESTIONS[1])], config)
            for response in responses:
                out.append((response.choices[0].token_ids, response.prompt_token_ids, response.usage.prompt_tokens))
        return out

    engine._prefixes.clear()
    engine._prefix_bytes = 0
    cached = answers()
    prompt = engine._encode(ask("Something nobody asked before"))
    known, _ = engine._cached_prefix(types.SimpleNamespace(prompt=prompt, adapter=None))
    assert 0 < known < len(prompt)  # the template's system prompt and user header come from the cache
    monkeypatch.setattr(pt_engine, "PREFIX_CACHE_BYTES", 0)
    engine._prefixes.clear()
    engine._prefix_bytes = 0
    assert answers() == cached and not engine._prefixes


def test_after_weights_change_no_cached_prompt_is_reused():
    """A trainer rolling out with the policy it trains (GRPO) changes the weights between calls: the
    prompt keys and values cached with the old weights must not serve the new ones."""
    import torch
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.pt_engine import PtEngine

    engine = PtEngine.from_args(resolve_arguments("infer", ["--model", "swiftk/tiny-chat"]))
    greedy = RequestConfig(max_tokens=16, temperature=0)
    try:
        engine.infer([ask(QUESTIONS[0])], greedy)
        assert engine._prefixes
        with torch.no_grad():
            for param in engine.model.model.layers[0].parameters():
                param.mul_(3.0)  # an optimizer step, in place
        stale = engine.infer([ask(QUESTIONS[1])], greedy)[0].choices[0]  # its prefix from the old weights
        engine.weights_changed()
        assert not engine._prefixes
        fresh = engine.infer([ask(QUESTIONS[1])], greedy)[0].choices[0]  # computed whole with the new weights
        assert stale.token_ids != fresh.token_ids  # the hazard weights_changed() removes
    finally:
        engine.close()


def swiftk(*args, input_text=None, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input_text,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_infer_over_a_dataset_writes_results_and_a_metric(tmp_path):
    data = tmp_path / "val.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "What is 3 + 4?"}, {"role": "assistant", "content": "3 + 4 = 7."}]},
        {
            "messages": [
                {"role": "user", "content": "What color is grass?"},
                {"role": "assistant", "content": "Grass is green."},
            ]
        },
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = swiftk(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--val_dataset",
        str(data),
        "--temperature",
        "0",
        "--max_new_tokens",
        "16",
        "--metric",
        "acc",
        "--result_path",
        str(tmp_path / "res.jsonl"),
    )
    results = [json.loads(l) for l in (tmp_path / "res.jsonl").read_text().splitlines()]
    assert [r["labels"] for r in results] == ["3 + 4 = 7.", "Grass is green."]
    assert results[0]["messages"][-1] == {"role": "assistant", "content": results[0]["response"]}
    assert "[swiftk] acc: acc=" in out


def test_interactive_chat_keeps_history_and_commands(tmp_path):
    out = swiftk(
        "infer",
        "--model",
        "swiftk/tiny-chat",
        "--temperature",
        "0",
        "--max_new_tokens",
        "16",
        input_text="What is 3 + 4?\nclear\nmulti-line\nWhat color\nis grass?#\nexit\n",
        cwd=tmp_path,
    )  # the turns go to the default result_path, result/tiny-chat/infer_result/
    assert "Commands:" in out and "(history cleared)" in out
    answers = [line.split(">>> ", 1)[1] for line in out.splitlines() if ">>> " in line]
    assert len(answers) == 2 and "7" in answers[0]  # the multi-line message was one question
