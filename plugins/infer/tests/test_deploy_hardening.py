"""No request can hurt another: hostile sampling values, malformed and oversized bodies, unexpected errors,
the request log, CORS, and a soak of 64 clients mixing all of them (`swiftk deploy` on 127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
import time

import httpx
import pytest

from swiftk.infer import InferEngine, InferError, InferRequest, RequestConfig
from swiftk_infer.testing import DeployProcess, free_port

KEY = "sk-hardening"
AUTH = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
PROMPTS = [
    "What is 3 + 4?",
    "Who are you?",
    "What color is grass?",
    "Count from 2 to 5.",
    "你好",
    "Hi",
    "What is the capital of France?",
    "Name a fruit.",
]
LIMIT = 2_000_000  # the module server's --max_request_bytes


def chat_body(prompt, **kw):
    return {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": 24,
        "temperature": 0,
        **kw,
    }


def raw(body):
    return body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()


# The hostile bodies: (what, body, status). Most were a 500 with internal text (and often a dropped connection),
# or a crash of the shared decode step; a long prompt was tokenized in full on the event loop first; all are now
# the client's own 4xx, answered off the event loop.
HOSTILE = [
    ("NaN literal", b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}', 400),
    ("Infinity literal", b'{"messages": [{"role": "user", "content": "Hi"}], "top_p": Infinity}', 400),
    ("-Infinity literal", b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": -Infinity}', 400),
    ("a number beyond a float", b'{"messages": [{"role": "user", "content": "Hi"}], "top_p": 1e400}', 400),
    ("seed 1e30", chat_body("Hi", seed=1e30), 400),
    ("seed beyond 64 bits", chat_body("Hi", seed=2**64), 400),
    ("lone surrogate", b'{"messages": [{"role": "user", "content": "\\ud800"}]}', 400),
    ("surrogate in a key", b'{"messages": [{"role": "user", "content": "Hi", "\\udfff": 1}]}', 400),
    ("nested 100k deep", b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
    (
        "nested 100 deep",
        b'{"messages": [{"role": "user", "content": "Hi"}], "x": ' + b"[" * 100 + b"]" * 100 + b"}",
        400,
    ),
    ("invalid UTF-8", b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', 400),
    ("repetition_penalty 1e-300, sampled", chat_body("Hi", temperature=1.0, repetition_penalty=1e-300), 400),
    ("a tool name that is not text", chat_body("Hi", tools=[{"type": "function", "function": {"name": 1}}]), 400),
    ("a tool that is not an object", chat_body("Hi", tools=[{"type": "function", "function": "f"}]), 400),
    ("stream_options not an object", chat_body("Hi", stream=True, stream_options=[1]), 400),
    ("too many stop strings", chat_body("Hi", stop=["x"] * 1000), 400),
    ("a prompt its characters prove too long", chat_body("hello " * 50_000), 400),
    ("max_tokens beyond the context", chat_body("Hi", max_tokens=10**6), 400),
]


def assert_openai_error(response, status):
    assert response.status_code == status, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["message"] and error["type"] and "code" in error
    assert response.headers["x-request-id"].startswith("req-")
    assert "Traceback" not in response.text and "internal error" not in response.text


@pytest.fixture(scope="module")
def server():
    with DeployProcess(
        ["--model", "swiftk/tiny-chat", "--api_key", KEY, "--max_batch_size", "16", "--max_request_bytes", str(LIMIT)],
        env={"OMP_NUM_THREADS": "1"},
    ) as proc:
        yield proc


# --- sampling values and the shared decode step ---------------------------------------------------


def test_a_hostile_request_does_not_end_the_streams_in_flight(server):
    """A request whose sampling makes the probabilities non-finite fails alone (400); the streams sharing its
    decoding steps go on to the answers they give alone; a temperature of 1e-40 is greedy."""
    url = server.base_url + "/chat/completions"
    long = {"max_tokens": 160, "ignore_eos": True}
    alone = {
        p: httpx.post(url, json=chat_body(p, **long), headers=AUTH, timeout=120).json()["choices"][0]["message"][
            "content"
        ]
        for p in PROMPTS[:6]
    }
    greedy_hi = httpx.post(url, json=chat_body("Hi"), headers=AUTH, timeout=60).json()["choices"][0]["message"]

    async def main():
        async with httpx.AsyncClient(timeout=120, headers=AUTH) as client:

            async def stream(prompt):
                text, errors = "", []
                async with client.stream("POST", url, json=chat_body(prompt, stream=True, **long)) as response:
                    assert response.status_code == 200
                    async for line in response.aiter_lines():
                        if line.startswith("data: {"):
                            event = json.loads(line[6:])
                            if "error" in event:
                                errors.append(event["error"]["message"])
                            elif event["choices"]:
                                text += event["choices"][0]["delta"].get("content") or ""
                return prompt, text, errors

            streams = [asyncio.ensure_future(stream(p)) for p in PROMPTS[:6]]
            deadline = time.monotonic() + 30
            while (await client.get(server.base_url[:-3] + "/health")).json()["running"] < 6:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.005)
            penalty = await client.post(url, json=chat_body("Hi", temperature=1.0, repetition_penalty=1e-300))
            nan = await client.post(
                url, content=b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}'
            )
            tiny = await client.post(url, json=chat_body("Hi", temperature=1e-40))
            return penalty, nan, tiny, await asyncio.gather(*streams)

    penalty, nan, tiny, streams = asyncio.run(main())
    assert_openai_error(penalty, 400)
    assert "no probability distribution" in penalty.json()["error"]["message"]
    assert_openai_error(nan, 400)
    assert tiny.status_code == 200 and tiny.json()["choices"][0]["message"] == greedy_hi
    for prompt, text, errors in streams:
        assert not errors and text == alone[prompt], (prompt, errors)


@pytest.fixture(scope="module")
def engine():
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_infer.pt_engine import PtEngine

    return PtEngine.from_args(resolve_arguments("infer", ["--model", "swiftk/tiny-chat", "--max_batch_size", "8"]))


def test_a_row_of_non_finite_logits_fails_its_own_request_only(engine, monkeypatch):
    """Logits the model makes NaN for one sequence (greedy or sampled) fail that request with a 500-status
    InferError; the requests decoded in the same steps get the answers they get alone."""
    greedy = RequestConfig(max_tokens=20, temperature=0)
    alone = {
        q: engine.infer([InferRequest([{"role": "user", "content": q}])], greedy)[0].choices[0].message
        for q in PROMPTS[:4]
    }
    victims = {
        "Poisoned greedy": RequestConfig(max_tokens=20, temperature=0),
        "Poisoned sampled": RequestConfig(max_tokens=20, temperature=1.0, seed=3),
    }
    poisoned = {tuple(engine._encode(InferRequest([{"role": "user", "content": q}]))) for q in victims}
    sample = engine._sample

    def sample_with_poison(logits, seqs):  # the victims' rows, after their third token, as a broken model gives
        logits = logits.clone()
        for i, seq in enumerate(seqs):
            if tuple(seq.prompt) in poisoned and len(seq.tokens) >= 3:
                logits[i] = float("nan")
        return sample(logits, seqs)

    monkeypatch.setattr(engine, "_sample", sample_with_poison)

    async def main():
        tasks = [engine.infer_async(InferRequest([{"role": "user", "content": q}]), greedy) for q in alone]
        tasks += [engine.infer_async(InferRequest([{"role": "user", "content": q}]), c) for q, c in victims.items()]
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    for question, result in zip(alone, results):
        assert not isinstance(result, BaseException), result
        assert result.choices[0].message == alone[question]
    for failure in results[len(alone) :]:
        assert isinstance(failure, InferError) and failure.status == 500 and failure.code == "non_finite_logits"
    assert engine.stats()["running"] == 0


def test_sampling_values_are_checked_and_a_tiny_temperature_is_greedy(engine):
    params = engine._params(RequestConfig(temperature=1e-40), 10, strict=True)
    assert params.temperature == 0.0
    assert engine._params(RequestConfig(temperature=2e-5), 10, strict=True).temperature == 2e-5
    for config, param in [
        (RequestConfig(temperature=float("nan")), "temperature"),
        (RequestConfig(top_p=float("nan")), "top_p"),
        (RequestConfig(repetition_penalty=float("inf")), "repetition_penalty"),
        (RequestConfig(seed=2**64), "seed"),
    ]:
        with pytest.raises(InferError) as info:
            engine._params(config, 10, strict=True)
        assert info.value.param == param and info.value.status == 400


def test_the_length_bound_never_exceeds_the_real_token_count(engine):
    """The characters-to-tokens bound that refuses a long prompt before tokenizing it is a lower bound on
    the demo tokenizer's count, on text built to tokenize densely: combining marks, Hangul jamo (which NFC
    composes), special tokens, single bytes, long runs."""
    from swiftk_infer.common import min_prompt_tokens, token_span

    span = token_span(engine.tokenizer)
    assert span is not None and span[1] == {"NFC": 4}  # byte-level BPE with NFC: the bound applies
    rng = random.Random(0)
    pieces = [
        "e\u0301",
        "\u1100\u1161\u11a8",
        "\u03c9\u0313\u0300\u0345",
        "<|im_end|>",
        " ",
        "\n",
        "hello",
        "你好",
        "🙂",
        "\x00",
        "a" * 50,
        "   ",
        "\u0301",
        "0123456789",
        "<|endoftext|>",
    ]
    vocab = engine.tokenizer.get_vocab()  # the longest tokens, where the bound is nearly reached
    pieces += [engine.tokenizer.convert_tokens_to_string([t]) for t in sorted(vocab, key=len)[-5:]]
    for _ in range(200):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 300)))
        tokens = len(engine.tokenizer(text, add_special_tokens=False)["input_ids"])
        assert min_prompt_tokens(span, [text]) <= tokens, text
    # a chat prompt: the bound over its message texts is below the template's encoding
    messages = [
        {"role": "system", "content": "  " + "\u1100\u1161" * 60 + "  "},
        {"role": "user", "content": "\u0301" + "x" * 200},
        {"role": "assistant", "content": "<think>" + "y" * 100 + "</think>\n\n" + "z" * 100},
        {"role": "user", "content": "<|im_end|>" * 20},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "  " + "w" * 100},
    ]
    texts = [m["content"].split("</think>")[-1].strip() for m in messages]
    assert min_prompt_tokens(span, texts) <= len(engine._encode(InferRequest(messages)))


def test_a_tokenizer_whose_form_bounds_nothing_is_tokenized_as_before():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from swiftk_infer.common import token_span

    vocab = {"[UNK]": 0, "hello": 1, "##s": 2}
    word_piece = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    word_piece.pre_tokenizer = pre_tokenizers.Whitespace()
    assert token_span(PreTrainedTokenizerFast(tokenizer_object=word_piece)) is None  # [UNK] covers any word


# --- malformed bodies, limits, the connection --------------------------------------------------------


@pytest.mark.parametrize("what, body, status", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_every_bad_body_is_a_4xx_and_the_connection_stays_usable(server, what, body, status):
    with httpx.Client(timeout=60, headers=AUTH, limits=httpx.Limits(max_connections=1)) as client:
        bad = client.post(server.base_url + "/chat/completions", content=raw(body))
        assert_openai_error(bad, status)
        good = client.post(server.base_url + "/chat/completions", json=chat_body("Hi"))
        assert good.status_code == 200 and good.json()["choices"][0]["message"]["content"]
        connection = bad.extensions["network_stream"].get_extra_info("client_addr")
        assert good.extensions["network_stream"].get_extra_info("client_addr") == connection  # kept alive


def test_a_body_over_the_limit_is_refused_before_it_is_read(server):
    # the declared length: the 413 comes back before a byte of the body is sent
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {20 * 2**20}\r\n\r\n".encode()
        )
        answer = b""
        while b"request_too_large" not in answer:  # bounded: the socket's timeout ends a silent wait
            piece = sock.recv(65536)
            assert piece, answer
            answer += piece
    assert answer.startswith(b"HTTP/1.1 413")
    # chunked, with no length declared: counted as it arrives; the same connection then serves a request
    with httpx.Client(timeout=60, headers=AUTH, limits=httpx.Limits(max_connections=1)) as client:
        chunks = (b'{"messages": [{"role": "user", "content": "' if i == 0 else b"x" * 65536 for i in range(64))
        response = client.post(server.base_url + "/chat/completions", content=chunks)
        assert response.request.headers.get("transfer-encoding") == "chunked"
        assert_openai_error(response, 413)
        assert client.post(server.base_url + "/chat/completions", json=chat_body("Hi")).status_code == 200
        at_limit = client.post(server.base_url + "/chat/completions", content=b" " * (LIMIT - 2) + b"{}")
        assert_openai_error(at_limit, 400)  # read and parsed: no messages


def test_large_bodies_do_not_stall_other_clients(server):
    """Bodies at the limit (a prompt of 2 MB) are read, parsed and refused in worker threads: /health answers
    meanwhile within a fraction of a second."""
    url = server.base_url + "/chat/completions"
    big = raw(chat_body("hello " * ((LIMIT - 200) // 6)))
    assert len(big) < LIMIT

    async def main():
        async with httpx.AsyncClient(timeout=120, headers=AUTH) as client:

            async def poll():
                worst = 0.0
                while not done.is_set():
                    started = time.perf_counter()
                    assert (await client.get(server.base_url[:-3] + "/health")).status_code == 200
                    worst = max(worst, time.perf_counter() - started)
                    await asyncio.sleep(0.01)
                return worst

            done = asyncio.Event()
            poller = asyncio.ensure_future(poll())
            responses = await asyncio.gather(*[client.post(url, content=big) for _ in range(6)])
            done.set()
            return responses, await poller

    responses, worst = asyncio.run(main())
    assert worst < 1.0, worst
    for response in responses:
        assert_openai_error(response, 400)
        assert response.json()["error"]["code"] == "context_length_exceeded"


# --- the request log -----------------------------------------------------------------------------------


def test_one_log_line_per_request_with_its_id_status_tokens_and_latency(server):
    url = server.base_url + "/chat/completions"
    ok = httpx.post(url, json=chat_body("What is 3 + 4?"), headers=AUTH, timeout=60)
    with httpx.stream("POST", url, json=chat_body("Hi", stream=True), headers=AUTH, timeout=60) as streamed:
        list(streamed.iter_lines())
    bad = httpx.post(url, json=chat_body("Hi", temperature=-1), headers=AUTH, timeout=60)
    unauthorized = httpx.post(url, json=chat_body("Hi"), timeout=60)
    lines = {}
    deadline = time.time() + 10
    while len(lines) < 4 and time.time() < deadline:
        ids = [r.headers["x-request-id"] for r in (ok, streamed, bad, unauthorized)]
        lines = {i: line for line in server.log().splitlines() for i in ids if i in line}
        time.sleep(0.05)
    usage = ok.json()["usage"]
    line = lines[ok.headers["x-request-id"]]
    assert " 127.0.0.1:" in line and "POST /v1/chat/completions 200" in line and "latency=" in line
    assert f"prompt_tokens={usage['prompt_tokens']} completion_tokens={usage['completion_tokens']}" in line
    assert "request=" in line and "response=" in line  # --verbose (on by default) adds the bodies
    line = lines[streamed.headers["x-request-id"]]
    assert " 200 prompt_tokens=" in line and " stream" in line
    assert " 400 " in lines[bad.headers["x-request-id"]] and "temperature" in lines[bad.headers["x-request-id"]]
    assert " 401 " in lines[unauthorized.headers["x-request-id"]]


# --- an unexpected error, CORS: an in-process server around an engine that fails -------------------------


class _Failing(InferEngine):
    """An engine with a bug: every request raises an error whose text must not reach the client."""

    model_name = "failing"

    def infer(self, requests, config=None, *, use_tqdm=False):
        raise RuntimeError("secret detail 4242")

    def infer_stream(self, request, config=None):
        raise RuntimeError("secret detail 4242")


@pytest.fixture()
def failing_server():
    import uvicorn

    from swiftk_infer.deploy import Server

    app = Server(
        _Failing(), served_model_name="tiny-chat", cors_allow_origins=("http://ui.example",), log_interval=-1
    ).create_app()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def test_an_unexpected_error_is_a_generic_500_and_the_connection_stays_usable(failing_server, caplog):
    caplog.set_level(logging.INFO, logger="swiftk.deploy")
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=1)) as client:
        for stream in (False, True):
            response = client.post(failing_server + "/v1/chat/completions", json=chat_body("Hi", stream=stream))
            assert response.status_code == 500 and "secret" not in response.text
            request_id = response.headers["x-request-id"]
            assert response.json() == {
                "error": {
                    "message": f"The server had an error while processing your request (request id {request_id}).",
                    "type": "server_error",
                    "param": None,
                    "code": "internal_error",
                }
            }
            assert any(
                request_id in r.getMessage() and r.exc_info and "secret detail 4242" in str(r.exc_info[1])
                for r in caplog.records
            )
            models = client.get(failing_server + "/v1/models")
            assert models.status_code == 200
            assert models.extensions["network_stream"].get_extra_info("client_addr") == response.extensions[
                "network_stream"
            ].get_extra_info("client_addr")


def test_cors_is_off_by_default_and_on_for_the_origins_given(failing_server, server):
    origin = {"Origin": "http://ui.example"}
    preflight = httpx.options(
        failing_server + "/v1/chat/completions",
        timeout=10,
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "http://ui.example"
    error = httpx.post(failing_server + "/v1/chat/completions", json=chat_body("Hi"), headers=origin, timeout=10)
    assert error.status_code == 500 and error.headers["access-control-allow-origin"] == "http://ui.example"
    other = httpx.get(failing_server + "/v1/models", headers={"Origin": "http://evil.example"}, timeout=10)
    assert "access-control-allow-origin" not in other.headers
    plain = httpx.get(server.base_url + "/models", headers={**AUTH, **origin}, timeout=10)
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


# --- the soak ---------------------------------------------------------------------------------------------

SOAK_SECONDS = float(os.environ.get("SWIFTK_SOAK_SECONDS", "20"))
SOAK_CLIENTS = 64


@pytest.mark.slow
def test_soak_64_clients_mixing_valid_hostile_and_abandoned_requests(capsys):
    """64 clients for SOAK_SECONDS: valid requests (chat, streamed chat, completions, temperature 1e-40) get
    the greedy text they get alone; every hostile one its 4xx; abandoned streams leave nothing running; the
    server's memory and threads come back to about where they started."""
    psutil = pytest.importorskip("psutil")
    with DeployProcess(
        ["--model", "swiftk/tiny-chat", "--api_key", KEY, "--verbose", "false", "--log_interval", "-1"],
        env={"OMP_NUM_THREADS": "1"},
    ) as server:
        process = psutil.Process(server.proc.pid)
        url = server.base_url
        oversized = b'{"messages": [{"role": "user", "content": "' + b"x" * (9 * 2**20) + b'"}]}'
        hostile = HOSTILE + [
            ("over the limit", oversized, 413),
            ("over the limit, chunked", None, 413),
            ("wrong key", chat_body("Hi"), 401),
            ("unknown model", chat_body("Hi", model="gpt-9"), 404),
        ]

        def valid(rng):
            prompt = rng.choice(PROMPTS)
            kind = rng.choice(["chat", "stream", "completion", "tiny temperature"])
            return prompt, kind

        async def ask(client, prompt, kind):
            if kind == "completion":
                response = await client.post(
                    url + "/completions", json={"prompt": prompt, "max_tokens": 24, "temperature": 0}
                )
                assert response.status_code == 200, response.text[:300]
                return response.json()["choices"][0]["text"]
            if kind == "stream":
                text = ""
                async with client.stream(
                    "POST", url + "/chat/completions", json=chat_body(prompt, stream=True)
                ) as response:
                    assert response.status_code == 200
                    async for line in response.aiter_lines():
                        if line.startswith("data: {"):
                            event = json.loads(line[6:])
                            assert "error" not in event, event
                            text += event["choices"][0]["delta"].get("content") or "" if event["choices"] else ""
                return text
            extra = {"temperature": 1e-40} if kind == "tiny temperature" else {}
            response = await client.post(url + "/chat/completions", json=chat_body(prompt, **extra))
            assert response.status_code == 200, response.text[:300]
            return response.json()["choices"][0]["message"]["content"]

        async def attack(client, what, body, status):
            headers = {"Authorization": "Bearer wrong"} if what == "wrong key" else {}
            if body is None:  # chunked: no Content-Length

                async def chunks():
                    yield b'{"messages": [{"role": "user", "content": "'
                    for _ in range(10):
                        yield b"x" * 2**20

                body = chunks()
            response = await client.post(
                url + "/chat/completions", content=body if not isinstance(body, dict) else raw(body), headers=headers
            )
            assert_openai_error(response, status)

        async def abandon(client, rng):
            body = chat_body(rng.choice(PROMPTS), stream=True, max_tokens=400, ignore_eos=True)
            async with client.stream("POST", url + "/chat/completions", json=body) as response:
                assert response.status_code == 200
                seen = 0
                async for line in response.aiter_lines():
                    seen += line.startswith("data: ")
                    if seen >= rng.randint(1, 5):
                        break

        async def client_loop(index, deadline, expected, counts, failures):
            rng = random.Random(index)
            async with httpx.AsyncClient(timeout=120, headers={"Authorization": f"Bearer {KEY}"}) as client:
                while time.monotonic() < deadline:
                    roll = rng.random()
                    try:
                        if roll < 0.55:
                            prompt, kind = valid(rng)
                            text = await ask(client, prompt, kind)
                            key = "completion" if kind == "completion" else "chat"
                            assert text == expected[key][prompt], (kind, prompt, text)
                            counts["valid"] += 1
                        elif roll < 0.9:
                            what, body, status = rng.choice(hostile)
                            await attack(client, what, body, status)
                            counts["hostile"] += 1
                        else:
                            await abandon(client, rng)
                            counts["abandoned"] += 1
                    except Exception as exc:  # noqa: BLE001  (every failure is counted and shown)
                        failures.append(f"{type(exc).__name__}: {str(exc)[:300]}")

        async def run(seconds):
            counts = {"valid": 0, "hostile": 0, "abandoned": 0}
            failures: list[str] = []
            deadline = time.monotonic() + seconds
            await asyncio.gather(*[client_loop(i, deadline, expected, counts, failures) for i in range(SOAK_CLIENTS)])
            return counts, failures

        async def alone():
            async with httpx.AsyncClient(timeout=120, headers={"Authorization": f"Bearer {KEY}"}) as client:
                return {
                    "chat": {p: await ask(client, p, "chat") for p in PROMPTS},
                    "completion": {p: await ask(client, p, "completion") for p in PROMPTS},
                }

        def settle():
            deadline = time.time() + 60
            while time.time() < deadline:
                health = server.health()
                if health["running"] == 0 and health["waiting"] == 0:
                    break
                time.sleep(0.1)
            time.sleep(1.0)
            return health

        rss_cold = process.memory_info().rss
        expected = asyncio.run(alone())
        counts, failures = asyncio.run(run(min(10.0, SOAK_SECONDS)))  # warm-up: caches, threads, the allocator
        assert not failures, failures[:5]
        settle()
        rss_before, threads_before = process.memory_info().rss, process.num_threads()
        started = time.monotonic()
        counts, failures = asyncio.run(run(SOAK_SECONDS))
        elapsed = time.monotonic() - started
        health = settle()
        rss_after, threads_after = process.memory_info().rss, process.num_threads()
        total = sum(counts.values())
        with capsys.disabled():
            print(
                f"\nsoak: {SOAK_CLIENTS} clients, {elapsed:.0f} s: {total} requests ({counts['valid']} valid, "
                f"{counts['hostile']} hostile, {counts['abandoned']} abandoned streams), {len(failures)} failures; "
                f"server RSS {rss_before / 2**20:.0f} MiB -> {rss_after / 2**20:.0f} MiB (at start "
                f"{rss_cold / 2**20:.0f} MiB, before a 10 s warm-up), "
                f"threads {threads_before} -> {threads_after}"
            )
        assert not failures, failures[:10]
        assert counts["valid"] and counts["hostile"] and counts["abandoned"]
        assert health["running"] == 0 and health["waiting"] == 0
        # the allocator keeps what 64 concurrent bodies of up to 8 MiB took at their peak: a plateau, not a leak
        assert rss_after < rss_before * 1.25 + 64 * 2**20, (rss_before, rss_after)
        assert threads_after <= threads_before + 2, (threads_before, threads_after)
