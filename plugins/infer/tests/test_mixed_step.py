"""Mixed steps: newcomers prefilled in the decoding step's forward give the answers of requests alone."""

from __future__ import annotations

import threading
import time

import pytest

from swiftk.infer import InferRequest, RequestConfig

QUESTIONS = [
    "What is 3 + 4?",
    "Who are you?",
    "What color is grass?",
    "Count from 2 to 5.",
    "你好",
    "Tell me a joke.",
    "Say hello.",
    "Name a fruit.",
]


def make_engine(*extra: str):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.pt_engine import PtEngine

    return PtEngine.from_args(resolve_arguments("infer", ["--model", "swiftk/tiny-chat", *extra]))


@pytest.fixture(scope="module")
def engine():
    engine = make_engine()
    yield engine
    engine.close()


def ask(q: str) -> InferRequest:
    return InferRequest([{"role": "user", "content": q}])


def test_the_demo_model_takes_mixed_steps(engine):
    from swiftk_infer.mixed_step import ATTENTION

    assert engine._mixed
    assert engine.model.config._attn_implementation == ATTENTION


def test_requests_joining_running_ones_get_the_answers_they_get_alone(engine):
    config = RequestConfig(max_tokens=32, temperature=0, logprobs=True, top_logprobs=2)
    alone = {q: engine.infer([ask(q)], config)[0].choices[0] for q in QUESTIONS}
    before = engine.stats()["mixed_steps"]
    answers: dict[int, object] = {}

    def client(i: int) -> None:
        time.sleep(0.003 * i)  # arrivals spread over the first steps of the earlier ones
        answers[i] = engine.infer([ask(QUESTIONS[i % len(QUESTIONS)])], config)[0].choices[0]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.stats()["mixed_steps"] > before  # newcomers did join running requests in one forward
    for i, choice in answers.items():
        expected = alone[QUESTIONS[i % len(QUESTIONS)]]
        assert choice.message["content"] == expected.message["content"], i
        assert choice.token_ids == expected.token_ids
        got = [entry["logprob"] for entry in choice.logprobs["content"]]
        want = [entry["logprob"] for entry in expected.logprobs["content"]]
        assert got == pytest.approx(want, abs=1e-4)


def test_closing_gives_the_model_its_sdpa_back_and_an_engine_can_leave_it_alone():
    from swiftk_infer.pt_engine import PtEngine

    engine = make_engine()
    model = engine.model
    assert engine._mixed and model.config._attn_implementation != "sdpa"
    engine.close()
    assert model.config._attn_implementation == "sdpa"  # the model may go on training
    again = PtEngine(model, engine.processor, engine.template, mixed_steps=False)  # as GRPO's rollouts make it
    try:
        assert again.continuous and not again._mixed and model.config._attn_implementation == "sdpa"
    finally:
        again.close()


def test_a_probe_that_disagrees_keeps_separate_forwards(monkeypatch):
    from swiftk_infer import mixed_step

    def joiners_see_everything(module, query, key, value, attention_mask, **kwargs):
        if isinstance(key, mixed_step.Halves):
            key.step.joining_mask = key.step.joining_mask.clamp(min=0)  # drop the prefill's causal mask
        return original(module, query, key, value, attention_mask, **kwargs)

    original = mixed_step.mixed_attention
    monkeypatch.setattr(mixed_step, "mixed_attention", joiners_see_everything)
    engine = make_engine()
    try:
        assert not engine._mixed
        assert engine.model.config._attn_implementation == "sdpa"  # switched back
        greedy = RequestConfig(max_tokens=12, temperature=0)
        assert "7" in engine.infer([ask(QUESTIONS[0])], greedy)[0].choices[0].message["content"]
    finally:
        engine.close()
        monkeypatch.undo()
        mixed_step.register_attention()  # the real function again, for every later engine of this process


def test_a_llama_model_takes_mixed_steps_too(engine):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from swiftk_infer.pt_engine import PtEngine

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(engine.tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        attn_implementation="sdpa",
    )
    llama = PtEngine(LlamaForCausalLM(config), engine.processor, engine.template)
    try:
        assert llama._mixed
        config = RequestConfig(max_tokens=16, temperature=0, ignore_eos=True)
        alone = {q: llama.infer([ask(q)], config)[0].choices[0].token_ids for q in QUESTIONS[:4]}
        answers: dict[int, list] = {}

        def client(i: int) -> None:
            time.sleep(0.003 * i)
            answers[i] = llama.infer([ask(QUESTIONS[i % 4])], config)[0].choices[0].token_ids

        threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert llama.stats()["mixed_steps"] > 0
        assert all(answers[i] == alone[QUESTIONS[i % 4]] for i in answers)
    finally:
        llama.close()
