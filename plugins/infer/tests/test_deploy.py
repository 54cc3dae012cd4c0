"""`swiftk deploy` on 127.0.0.1, driven with the official openai client and raw HTTP; the kernel client."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from swiftk_infer.testing import DeployProcess

openai = pytest.importorskip("openai")

KEY = "sk-test-key"
PROMPTS = [
    "What is 3 + 4?",
    "Who are you?",
    "What color is grass?",
    "Count from 2 to 5.",
    "你好",
    "What is 2 + 2?",
    "Tell me a joke.",
    "Hi",
    "What is the capital of France?",
    "What is 5 + 6?",
    "Say hello.",
    "What day is it?",
    "Name a fruit.",
    "What is 10 - 3?",
    "Are you a robot?",
    "Thank you!",
]


@pytest.fixture(scope="module")
def server():
    with DeployProcess(
        [
            "--model",
            "swiftk/tiny-chat",
            "--api_key",
            KEY,
            "--log_interval",
            "1",
            "--max_logprobs",
            "5",
            "--max_batch_size",
            "16",
        ],
        env={"OMP_NUM_THREADS": "1"},
    ) as proc:
        yield proc


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0, timeout=120)


def chat(client, prompt, **kw):
    kw = {"model": "tiny-chat", "max_tokens": 32, "temperature": 0, **kw}
    return client.chat.completions.create(messages=[{"role": "user", "content": prompt}], **kw)


def test_models_list(client):
    models = client.models.list().data
    assert [m.id for m in models] == ["tiny-chat"]  # default served_model_name: the folder's last name
    assert models[0].owned_by == "swift"


def test_chat_with_and_without_stream(client):
    response = chat(client, "What is 3 + 4?")
    choice = response.choices[0]
    assert "7" in choice.message.content and choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert response.usage.prompt_tokens > 5 and response.usage.completion_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    chunks = list(chat(client, "What is 3 + 4?", stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == choice.message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.completion_tokens == response.usage.completion_tokens
    # n choices and max_tokens
    several = chat(client, "Tell me a joke.", n=3, temperature=1.0, seed=7, max_tokens=5)
    assert [c.index for c in several.choices] == [0, 1, 2]
    assert all(c.finish_reason in ("stop", "length") for c in several.choices)
    assert several.usage.completion_tokens <= 15


def test_sse_ends_with_done(server):
    body = {"model": "tiny-chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True, "max_tokens": 8}
    with httpx.stream(
        "POST", server.base_url + "/chat/completions", json=body, timeout=60, headers={"Authorization": f"Bearer {KEY}"}
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)


def test_completions_stop_and_seed(client):
    response = client.completions.create(model="tiny-chat", prompt="Hello", max_tokens=8, temperature=0)
    text = response.choices[0].text
    assert response.object == "text_completion" and text and response.usage.completion_tokens <= 8
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="tiny-chat", prompt="Hello", max_tokens=8, temperature=0, stream=True)
        if c.choices
    )
    assert streamed == text
    full = chat(client, "Count from 2 to 5.").choices[0].message.content
    stop = full.split(",")[1].strip()
    cut = chat(client, "Count from 2 to 5.", stop=[stop]).choices[0]
    assert cut.message.content.endswith(stop) and len(cut.message.content) < len(full)  # kept, then cut
    a = chat(client, "你好", temperature=1.0, seed=11, max_tokens=12).choices[0].message.content
    b = chat(client, "你好", temperature=1.0, seed=11, max_tokens=12).choices[0].message.content
    assert a == b


def test_logprobs(client):
    response = chat(client, "What is 3 + 4?", max_tokens=5, logprobs=True, top_logprobs=3)
    content = response.choices[0].logprobs.content
    assert len(content) == response.usage.completion_tokens
    assert all(len(c.top_logprobs) == 3 and c.logprob <= 0 for c in content)
    assert content[0].logprob == pytest.approx(content[0].top_logprobs[0].logprob)  # greedy = the top token
    streamed = [
        c
        for c in chat(client, "What is 3 + 4?", max_tokens=5, logprobs=True, top_logprobs=2, stream=True)
        if c.choices and c.choices[0].logprobs
    ]
    assert sum(len(c.choices[0].logprobs.content) for c in streamed) == len(content)
    completion = client.completions.create(model="tiny-chat", prompt="Hello", max_tokens=4, temperature=0, logprobs=2)
    logprobs = completion.choices[0].logprobs
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == completion.usage.completion_tokens
    assert all(len(top) <= 2 for top in logprobs.top_logprobs)
    with pytest.raises(openai.BadRequestError, match="max_logprobs"):
        chat(client, "Hi", logprobs=True, top_logprobs=6)  # the server caps it at 5


def test_api_key(server):
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0).models.list()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        response = httpx.get(server.base_url + "/models", headers=headers)
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
        response = httpx.post(
            server.base_url + "/chat/completions",
            headers=headers,
            json={"messages": [{"role": "user", "content": "Hi"}]},
        )
        assert response.status_code == 401 and "message" in response.json()["error"]


LONG = "hello " * 1500
BAD = [
    ("malformed JSON", b'{"model": "tiny-chat", "messages": [', 400, None),
    ("not an object", b'[1, 2]', 400, None),
    ("unknown model", {"model": "gpt-9", "messages": [{"role": "user", "content": "Hi"}]}, 404, "model"),
    ("wrong role", {"messages": [{"role": "wizard", "content": "Hi"}]}, 400, "messages"),
    ("no messages", {"model": "tiny-chat", "messages": []}, 400, "messages"),
    ("messages missing", {"model": "tiny-chat"}, 400, "messages"),
    ("content not text", {"messages": [{"role": "user", "content": 5}]}, 400, "messages"),
    (
        "max_tokens beyond the context",
        {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5000},
        400,
        "max_tokens",
    ),
    ("max_tokens zero", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 0}, 400, "max_tokens"),
    (
        "negative temperature",
        {"messages": [{"role": "user", "content": "Hi"}], "temperature": -0.5},
        400,
        "temperature",
    ),
    (
        "temperature not a number",
        {"messages": [{"role": "user", "content": "Hi"}], "temperature": "hot"},
        400,
        "temperature",
    ),
    ("top_p out of range", {"messages": [{"role": "user", "content": "Hi"}], "top_p": 1.5}, 400, "top_p"),
    ("prompt longer than the context", {"messages": [{"role": "user", "content": LONG}]}, 400, "messages"),
    (
        "streamed prompt longer than the context",
        {"messages": [{"role": "user", "content": LONG}], "stream": True},
        400,
        "messages",
    ),
    ("stop not strings", {"messages": [{"role": "user", "content": "Hi"}], "stop": [1]}, 400, "stop"),
]


@pytest.mark.parametrize("what, body, status, param", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_an_openai_error(server, what, body, status, param):
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(server.base_url + "/chat/completions", content=content, headers=headers, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"] and error["param"] == param


def test_bad_completion_inputs_and_routes(server):
    headers = {"Authorization": f"Bearer {KEY}"}
    for body in ({"prompt": ""}, {"prompt": ["a", "b"]}, {"prompt": "Hi", "logprobs": 99}, {"prompt": LONG * 2}):
        response = httpx.post(server.base_url + "/completions", json=body, headers=headers, timeout=60)
        assert response.status_code == 400 and "error" in response.json(), response.text
    response = httpx.get(server.base_url + "/nowhere", headers=headers)
    assert response.status_code == 404 and "error" in response.json()
    response = httpx.get(server.base_url + "/chat/completions", headers=headers)
    assert response.status_code == 405 and "error" in response.json()


def test_16_concurrent_clients_match_single_requests(client, server):
    alone = {p: chat(client, p).choices[0].message.content for p in PROMPTS}

    def ask(i):
        time.sleep(random.Random(i).uniform(0, 0.05))  # staggered: requests join a running batch
        prompt = PROMPTS[i]
        if i % 2:
            chunks = chat(client, prompt, stream=True)
            return prompt, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return prompt, chat(client, prompt).choices[0].message.content

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(16)))
    assert len(answers) == 16
    for prompt, text in answers:
        assert text == alone[prompt], prompt


def test_disconnect_mid_stream_frees_the_slot(server):
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": "Tell me a joke."}],
        "stream": True,
        "max_tokens": 900,
        "ignore_eos": True,
    }
    with httpx.stream(
        "POST", server.base_url + "/chat/completions", json=body, timeout=60, headers={"Authorization": f"Bearer {KEY}"}
    ) as response:
        lines = response.iter_lines()
        for _ in range(3):
            next(lines)
        assert server.health()["running"] == 1
    deadline = time.time() + 5
    while server.health()["running"] and time.time() < deadline:
        time.sleep(0.02)
    health = server.health()
    assert health["running"] == 0 and health["waiting"] == 0
    generated = health["generation_tokens"]
    time.sleep(0.3)
    assert server.health()["generation_tokens"] == generated  # nothing runs for the gone client


def test_log_interval_reports_tokens_per_second(server, client):
    chat(client, "Hi")
    deadline = time.time() + 5
    while "generation" not in server.log() and time.time() < deadline:
        time.sleep(0.1)
    assert "tokens/s" in server.log() and "running" in server.log()


def test_infer_client(server):
    from swiftk.infer import InferError, InferRequest, RequestConfig
    from swiftk_infer.client import InferClient

    client = InferClient(server.base_url.rsplit("/v1", 1)[0], api_key=KEY)
    assert client.models() == ["tiny-chat"] and client.model_name == "tiny-chat"
    answer = client.chat([{"role": "user", "content": "What is 3 + 4?"}], max_tokens=32, temperature=0)
    assert "7" in answer.choices[0].message["content"] and answer.usage.completion_tokens > 0
    streamed = "".join(
        c.choices[0].delta.get("content", "")
        for c in client.chat_stream([{"role": "user", "content": "What is 3 + 4?"}], max_tokens=32, temperature=0)
        if c.choices
    )
    assert streamed == answer.choices[0].message["content"]
    batch = client.infer(
        [InferRequest([{"role": "user", "content": p}]) for p in PROMPTS[:4]],
        RequestConfig(max_tokens=32, temperature=0),
    )
    assert batch[0].choices[0].message == answer.choices[0].message and len(batch) == 4
    assert client.completions("Hello", max_tokens=3)["usage"]["completion_tokens"] <= 3
    with pytest.raises(InferError) as info:
        client.chat([{"role": "user", "content": "Hi"}], temperature=-1)
    assert info.value.status == 400 and info.value.param == "temperature"
    with pytest.raises(InferError) as info:
        InferClient(server.base_url, api_key="nope").models()
    assert info.value.status == 401
