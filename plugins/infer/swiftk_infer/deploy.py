"""``swiftk deploy``: an OpenAI-compatible HTTP server (FastAPI + uvicorn) in front of an engine.

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions`` (both with
``stream``: server-sent events ending with ``data: [DONE]``), and ``GET /health``. Every error is
OpenAI-shaped, ``{"error": {"message", "type", "param", "code"}}``, with a 4xx status for the
client's mistakes. Requests go to the engine's asyncio API, so with the pt engine concurrent
requests share decoding steps (continuous batching). A client that goes away cancels its request at
once. A classifier or reward model (:mod:`swiftk_infer.classify`) answers with its prediction or score,
and ``/v1/models`` gives each model's ``task`` (causal_lm, seq_cls or reward). An engine may add routes
with a ``routes(server) -> [(path, endpoint, methods)]`` method (swift-plugin-embedding's ``/v1/embeddings``
and ``/v1/rerank``). On SIGTERM, uvicorn stops accepting connections, the requests in flight finish, then the
engine is closed and the process exits. Every answered request is logged to ``--result_path`` (one
jsonl line: the request, the response, the latency and the token counts) by one writer thread.

No request can hurt another: a body over ``--max_request_bytes`` is refused (413) before it is read, the
body is parsed and the prompt rendered and tokenized in worker threads (never on the event loop), every
malformed body is a 4xx, an unexpected error a generic 500 on a connection that stays usable, and each
request gets one log line (:class:`Guard`).
"""

import asyncio
import hmac
import json
import logging
import math
import os
import re
import sys
import time
import uuid
from typing import Any, AsyncIterator, Optional

from swiftk.api import InferError, InferRequest, RequestConfig

logger = logging.getLogger("swiftk.deploy")

ROLES = ("system", "developer", "user", "assistant", "tool")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: ``--max_request_bytes``' default.
MAX_REQUEST_BYTES = 8 * 2**20
#: Nesting a request body may have (an OpenAI body with tool schemas nests about ten levels); deeper bodies
#: are refused before anything recurses over them (json, the template, the result log).
MAX_JSON_DEPTH = 64
#: ``stop`` strings per request: each is looked for after every generated token, in the shared decode loop.
MAX_STOP = 64
#: Integers must be 64-bit (what torch's generators, vLLM's fields and C code downstream take).
INT64 = (-(2**63), 2**63 - 1)
#: Worker threads that parse bodies and encode prompts (the event loop's default executor).
WORKERS = 4
#: Characters of each body in a ``--verbose`` log line.
VERBOSE_CHARS = 2000
_SURROGATE = re.compile("[\ud800-\udfff]")


def _error(status: int, message: str, param: Optional[str] = None, code: Optional[str] = None) -> Any:
    from starlette.responses import Response

    body = InferError(message, param, status, code).to_dict()
    return Response(json.dumps(body, ensure_ascii=False), status_code=status, media_type="application/json")


def _json(data: Any, status: int = 200) -> Any:
    from starlette.responses import Response

    return Response(json.dumps(data, ensure_ascii=False), status_code=status, media_type="application/json")


# --- request parsing -----------------------------------------------------------------------------


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def parse_body(raw: bytes) -> dict:
    """The request's JSON object (run in a worker thread); InferError (400) for anything else: invalid
    JSON or UTF-8, NaN and Infinity (Python's json reads them, JSON has no such numbers), numbers beyond a
    float, nesting deeper than MAX_JSON_DEPTH, and lone surrogates (``"\\ud800"`` is a valid JSON escape,
    but no text a tokenizer can encode)."""
    try:
        data = json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise InferError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the two above
        raise InferError(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise InferError("the request body must be a JSON object")
    stack: list[tuple[Any, int]] = [(data, 1)]  # iterative: no recursion over a hostile body
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise InferError("the request body has a lone UTF-16 surrogate (\\ud800-\\udfff) in a string")
        elif isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise InferError(f"the request body nests deeper than {MAX_JSON_DEPTH} levels")
            if isinstance(value, dict):
                stack.extend((key, depth) for key in value)
                value = value.values()
            stack.extend((item, depth + 1) for item in value)
    return data


def _number(
    data: dict,
    key: str,
    kind: type = float,
    minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    exclusive_min: bool = False,
) -> Any:
    """``data[key]`` as a finite number of ``kind`` (integers: 64-bit) within the bounds, or None."""
    value = data.get(key)
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and isinstance(value, float):
        ok = math.isfinite(value) and (kind is not int or value.is_integer())
    if not ok:
        raise InferError(f"'{key}' must be {'an integer' if kind is int else 'a finite number'}, got {value!r}", key)
    if abs(value) > (INT64[1] if kind is int else 1e308):
        raise InferError(f"'{key}' is out of range, got {value:.3g}", key)
    value = kind(value)
    if minimum is not None and (value <= minimum if exclusive_min else value < minimum):
        raise InferError(f"'{key}' must be {'>' if exclusive_min else '>='} {minimum}, got {value}", key)
    if maximum is not None and value > maximum:
        raise InferError(f"'{key}' must be <= {maximum}, got {value}", key)
    return value


def _stop(data: dict) -> list[str]:
    stop = data.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        if len(stop) > MAX_STOP:
            raise InferError(f"'stop' has {len(stop)} strings; at most {MAX_STOP}", "stop")
        return list(stop)
    raise InferError("'stop' must be a string or a list of strings", "stop")


def _tools(data: dict) -> Optional[list]:
    """``tools``: OpenAI's function definitions (a name is text, a description text, parameters an object)."""
    tools = data.get("tools")
    if not tools:
        return None
    if not isinstance(tools, list):
        raise InferError("'tools' must be a list of tool definitions", "tools")
    for i, tool in enumerate(tools):
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if (
            not isinstance(function, dict)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("description", ""), str)
            or not isinstance(function.get("parameters", {}), dict)
        ):
            raise InferError(
                f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\": text, "
                f"\"description\": text, \"parameters\": object}}}}",
                "tools",
            )
    return tools


def _config(data: dict, max_logprobs: int, chat: bool) -> RequestConfig:
    max_tokens = _number(data, "max_completion_tokens", int, 1) if chat else None
    if max_tokens is None:
        max_tokens = _number(data, "max_tokens", int, 1)
    if chat:
        logprobs = data.get("logprobs")
        if logprobs is not None and not isinstance(logprobs, bool):
            raise InferError("'logprobs' must be true or false", "logprobs")
        top = _number(data, "top_logprobs", int, 0)
        if top is not None and not logprobs:
            raise InferError("'top_logprobs' needs 'logprobs': true", "top_logprobs")
    else:  # completions: logprobs is the number of top logprobs
        top = _number(data, "logprobs", int, 0)
        logprobs = top is not None
    if top is not None and top > max_logprobs:
        raise InferError(
            f"'top_logprobs' ({top}) is more than the server's max_logprobs ({max_logprobs})",
            "top_logprobs" if chat else "logprobs",
        )
    stream = data.get("stream", False)
    if not isinstance(stream, bool):
        raise InferError("'stream' must be true or false", "stream")
    if not isinstance(data.get("stream_options") or {}, dict):
        raise InferError("'stream_options' must be an object", "stream_options")
    top_k = _number(data, "top_k", int, -1)
    return RequestConfig(
        max_tokens=max_tokens,
        temperature=_number(data, "temperature", float, 0),
        top_k=None if top_k == -1 else top_k,
        top_p=_number(data, "top_p", float, 0, 1, exclusive_min=True),
        repetition_penalty=_number(data, "repetition_penalty", float, 0, exclusive_min=True),
        stop=_stop(data),
        seed=_number(data, "seed", int),
        n=_number(data, "n", int, 1, 128) or 1,
        stream=stream,
        logprobs=bool(logprobs),
        top_logprobs=top,
        ignore_eos=bool(data.get("ignore_eos", False)),
    )


#: OpenAI content parts a multimodal model takes, and the key holding each one's URL or data
MEDIA_PARTS = {
    "image_url": "image_url",
    "video_url": "video_url",
    "audio_url": "audio_url",
    "input_audio": "input_audio",
}


def _media_parts(value: list, index: int, local_root: Optional[str]) -> list:
    """A multimodal model's content parts, checked: text and media parts only; a local file only under
    ``--allowed_local_media_path`` (the server's files are not the client's to read otherwise)."""
    parts = []
    for part in value:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            parts.append(part)
            continue
        if kind not in MEDIA_PARTS or not isinstance(part.get(MEDIA_PARTS[kind]), (dict, str)):
            raise InferError(
                f"messages[{index}]: content part {kind!r}; valid: text, {', '.join(MEDIA_PARTS)}", "messages"
            )
        source = part[MEDIA_PARTS[kind]]
        url = source.get("url") if isinstance(source, dict) else source
        if isinstance(url, str) and not url.startswith(("data:", "http://", "https://")) and kind != "input_audio":
            path = os.path.realpath(url[len("file://") :] if url.startswith("file://") else url)
            root = os.path.realpath(local_root) if local_root else None
            if root is None or os.path.commonpath([root, path]) != root:
                raise InferError(
                    f"messages[{index}]: {kind} names a local file; the server reads local files only under "
                    f"--allowed_local_media_path (send a data URL instead)",
                    "messages",
                )
        parts.append(part)
    return parts


def _content(value: Any, index: int, media: Optional[dict] = None) -> Any:
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list) and media is not None:  # a multimodal model: media parts stay
        return _media_parts(value, index, media.get("local_root"))
    if isinstance(value, list):  # OpenAI content parts: text only here
        parts = []
        for part in value:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise InferError(
                    f"messages[{index}]: content part of type {kind!r} is not supported by this text model", "messages"
                )
        return "".join(parts)
    raise InferError(f"messages[{index}]: content must be a string or a list of content parts", "messages")


def _messages(data: dict, media: Optional[dict] = None) -> list[dict]:
    messages = data.get("messages")
    if messages is None:
        raise InferError("'messages' is required", "messages")
    if not isinstance(messages, list) or not messages:
        raise InferError("'messages' must be a non-empty list", "messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InferError(f"messages[{i}] must be an object with 'role' and 'content'", "messages")
        role = message.get("role")
        if role not in ROLES:
            raise InferError(f"messages[{i}]: invalid role {role!r}; valid: {', '.join(ROLES)}", "messages")
        content = _content(message.get("content"), i, media if role == "user" else None)
        item = {"role": "system" if role == "developer" else role, "content": content}
        if message.get("tool_calls"):
            item["tool_calls"] = message["tool_calls"]
        out.append(item)
    if not any(m["role"] in ("user", "tool") for m in out):
        raise InferError("'messages' has no user message to answer", "messages")
    return out


# --- responses --------------------------------------------------------------------------------------


def _usage(usage: Any) -> dict:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def _chat_body(response: Any, model: str) -> dict:
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": model,
        "choices": [
            {"index": c.index, "message": c.message, "finish_reason": c.finish_reason, "logprobs": c.logprobs}
            for c in response.choices
        ],
        "usage": _usage(response.usage),
    }


def _completion_logprobs(entries: Optional[list], offset: int) -> Optional[dict]:
    if entries is None:
        return None
    tokens, values, tops, offsets = [], [], [], []
    for entry in entries:
        tokens.append(entry["token"])
        values.append(entry["logprob"])
        tops.append({t["token"]: t["logprob"] for t in entry.get("top_logprobs") or []})
        offsets.append(offset)
        offset += len(entry["token"])
    return {"tokens": tokens, "token_logprobs": values, "top_logprobs": tops, "text_offset": offsets}


def _completion_body(response: Any, model: str) -> dict:
    choices = []
    for c in response.choices:
        logprobs = _completion_logprobs(c.logprobs["content"], 0) if c.logprobs else None
        choices.append(
            {"index": c.index, "text": c.message["content"], "finish_reason": c.finish_reason, "logprobs": logprobs}
        )
    return {
        "id": "cmpl-" + response.id.split("-", 1)[-1],
        "object": "text_completion",
        "created": response.created,
        "model": model,
        "choices": choices,
        "usage": _usage(response.usage),
    }


from starlette.responses import Response as _Response  # noqa: E402  (deploy.py is imported by `swiftk deploy` only)


class EventStream(_Response):
    """A server-sent-events response that stops its source as soon as the client disconnects."""

    media_type = "text/event-stream"

    def __init__(self, source: AsyncIterator[bytes]):
        self.source = source
        self.status_code = 200
        self.background = None
        self.raw_headers = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        gone = asyncio.Event()

        async def listen() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return

        listener = asyncio.ensure_future(listen())
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                    ],
                }
            )
            async for chunk in self.source:
                if gone.is_set():
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if not gone.is_set():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            listener.cancel()
            await self.source.aclose()


def _sse(data: Any) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False).encode() + b"\n\n"


def _excerpt(text: Any) -> str:
    """A body for a ``--verbose`` log line: one line, at most VERBOSE_CHARS characters of it."""
    if isinstance(text, bytes):
        text = text[: VERBOSE_CHARS * 4].decode("utf-8", "replace")
    elif not isinstance(text, str):
        text = json.dumps(text, ensure_ascii=False)
    cut = text[:VERBOSE_CHARS] + (f"... ({len(text)} characters)" if len(text) > VERBOSE_CHARS else "")
    return json.dumps(cut, ensure_ascii=False)


class Guard:
    """The layer around every HTTP request: a request id (the ``x-request-id`` header), the body limit (413
    on the declared Content-Length before reading, else as the count of what arrives passes it), a generic
    500 for an unexpected error (the detail goes to the log; the response is complete, so the keep-alive
    connection stays usable, where Starlette's handler re-raises and uvicorn drops it), and one log line
    when the request ends: id, client, status, tokens, latency (streams when they end), any error, and with
    ``--verbose`` the bodies. Route handlers add to ``scope["swiftk"]``."""

    def __init__(self, app: Any, server: "Server"):
        self.app = app
        self.server = server

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info: dict[str, Any] = {"id": f"req-{uuid.uuid4().hex[:16]}", "started": time.perf_counter()}
        scope["swiftk"] = info
        limit, received, state = self.server.max_request_bytes, 0, {"started": False, "done": False}

        def too_large() -> InferError:
            # a new one each time: one kept in this closure would hold, through its traceback, the body read
            # so far in a reference cycle, which only a rare full collection frees (gigabytes under load)
            return InferError(
                f"the request body is larger than this server's limit of {limit} bytes (--max_request_bytes)",
                status=413,
                code="request_too_large",
            )

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise too_large()
            return message

        async def tagged(message: dict) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
                info["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", info["id"].encode())]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["done"] = True
            await send(message)

        try:
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise too_large()
            await self.app(scope, counted, tagged)
        except InferError as exc:  # the body limit, outside a route's own handling
            info["error"] = exc.message
            if not state["started"]:
                await _error(exc.status, exc.message, exc.param, exc.code)(scope, receive, tagged)
        except Exception as exc:
            logger.error("%s: %s %s failed", info["id"], scope.get("method"), scope.get("path"), exc_info=exc)
            info["error"] = f"{type(exc).__name__}: {exc}"
            if not state["started"]:
                body = {
                    "error": {
                        "message": f"The server had an error while processing your request (request id {info['id']}).",
                        "type": "server_error",
                        "param": None,
                        "code": "internal_error",
                    }
                }
                await _json(body, 500)(scope, receive, tagged)
            elif not state["done"]:  # a stream cut short: end it, so that the connection can go on
                try:
                    await tagged({"type": "http.response.body", "body": b"", "more_body": False})
                except Exception:  # the client is gone
                    pass
        finally:
            self.server.log_request(scope, info)


# --- the app ----------------------------------------------------------------------------------------


class Server:
    """The routes, bound to one engine and the deploy arguments."""

    def __init__(
        self,
        engine: Any,
        *,
        served_model_name: str,
        api_key: Optional[str] = None,
        owned_by: str = "swift",
        max_logprobs: int = 20,
        verbose: bool = True,
        log_interval: int = 20,
        results: Any = None,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        cors_allow_origins: tuple[str, ...] = (),
        allowed_local_media_path: Optional[str] = None,
    ):
        self.engine = engine
        multimodal = getattr(getattr(engine, "template", None), "is_multimodal", False)
        self.media = {"local_root": allowed_local_media_path} if multimodal else None
        self.max_request_bytes = max_request_bytes
        self.cors_allow_origins = tuple(cors_allow_origins)
        self.results = results  # a JsonlWriter for --result_path, or None
        self.model_name = served_model_name
        self.api_key = api_key
        self.owned_by = owned_by
        self.max_logprobs = max_logprobs
        self.verbose = verbose
        self.log_interval = log_interval
        self.created = int(time.time())
        self.in_flight = 0

    def models(self) -> list[str]:
        return [self.model_name] + [a for a in getattr(self.engine, "adapter_names", ()) if a != self.model_name]

    def _adapter(self, data: dict) -> Optional[str]:
        model = data.get("model")
        if model is None or model == self.model_name:
            return None
        if not isinstance(model, str):
            raise InferError("'model' must be a string", "model")
        if model in getattr(self.engine, "adapter_names", ()):
            return model
        raise InferError(
            f"The model `{model}` does not exist; served: {', '.join(self.models())}",
            "model",
            status=404,
            code="model_not_found",
        )

    def _authorized(self, request: Any) -> bool:
        if not self.api_key:
            return True
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        # in constant time: how long a comparison takes must not tell how much of a guess was right
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode())

    async def _body(self, request: Any, info: dict) -> dict:
        raw = await request.body()  # the Guard stops it at --max_request_bytes
        info["request"] = raw
        return await asyncio.to_thread(parse_body, raw)

    def log_request(self, scope: dict, info: dict) -> None:
        """The request's one line (a successful ``/health``, which monitors poll, has none)."""
        path, status = scope.get("path", ""), info.get("status")
        if path == "/health" and status == 200:
            return
        client = scope.get("client")
        parts = [
            info["id"],
            f"{client[0]}:{client[1]}" if client else "-",
            str(scope.get("method")),
            path,
            str(status or "-"),
        ]
        if "prompt_tokens" in info:
            parts.append(f"prompt_tokens={info['prompt_tokens']} completion_tokens={info['completion_tokens']}")
        parts.append(f"latency={time.perf_counter() - info['started']:.3f}s")
        if info.get("stream"):
            parts.append("stream")
        if info.get("error"):
            parts.append(f"error={json.dumps(str(info['error'])[:500], ensure_ascii=False)}")
        if self.verbose:
            for key in ("request", "response"):
                if info.get(key) is not None:
                    parts.append(f"{key}={_excerpt(info[key])}")
        logger.info(" ".join(parts))

    def create_app(self) -> Any:
        import contextlib

        from fastapi import FastAPI, Request
        from starlette.exceptions import HTTPException

        server = self

        @contextlib.asynccontextmanager
        async def lifespan(app: Any):
            from concurrent.futures import ThreadPoolExecutor

            # a fixed pool for parsing bodies and encoding prompts (asyncio.to_thread)
            workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="swiftk-deploy")
            asyncio.get_running_loop().set_default_executor(workers)
            task = (
                asyncio.ensure_future(server._log_stats()) if server.log_interval and server.log_interval > 0 else None
            )
            yield
            if task is not None:
                task.cancel()
            workers.shutdown(wait=False)

        app = FastAPI(title="swiftk deploy", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

        @app.exception_handler(HTTPException)
        async def http_error(request: Request, exc: HTTPException) -> Any:
            message = {
                404: f"no route {request.method} {request.url.path}",
                405: f"method {request.method} not allowed on {request.url.path}",
            }.get(exc.status_code, str(exc.detail))
            return _error(exc.status_code, message)

        @app.get("/health")
        async def health() -> Any:
            stats = server.engine.stats() or {}
            return _json({"status": "ok", **stats})

        @app.get("/v1/models")
        async def models(request: Request) -> Any:
            if not server._authorized(request):
                return server._unauthorized()
            task = getattr(server.engine, "task", "causal_lm")  # seq_cls, reward: what a chat answer holds
            data = [
                {"id": name, "object": "model", "created": server.created, "owned_by": server.owned_by, "task": task}
                for name in server.models()
            ]
            return _json({"object": "list", "data": data})

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> Any:
            return await server.handle(request, chat=True)

        @app.post("/v1/completions")
        async def completions(request: Request) -> Any:
            return await server.handle(request, chat=False)

        # routes the engine adds (swift-plugin-embedding: /v1/embeddings, /v1/rerank): engine.routes(server) ->
        # [(path, async endpoint(request) -> Response, methods)]
        for path, endpoint, methods in getattr(server.engine, "routes", lambda _: [])(server):
            app.add_route(path, endpoint, methods=methods)

        # no handler for Exception: the Guard answers it (inside Starlette's ServerErrorMiddleware, which
        # would re-raise and drop the connection); CORS outside the Guard, so that its 413s and 500s carry
        # the headers a browser needs to read them
        app.add_middleware(Guard, server=server)
        if server.cors_allow_origins:
            from starlette.middleware.cors import CORSMiddleware

            app.add_middleware(
                CORSMiddleware,
                allow_origins=list(server.cors_allow_origins),
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["x-request-id"],
            )
        return app

    def _unauthorized(self) -> Any:
        return _error(
            401, "Incorrect or missing API key: send 'Authorization: Bearer <api_key>'", code="invalid_api_key"
        )

    async def handle(self, request: Any, chat: bool) -> Any:
        info = request.scope.setdefault("swiftk", {})
        if not self._authorized(request):
            info["error"] = "unauthorized"
            return self._unauthorized()
        started = time.perf_counter()
        try:
            data = await self._body(request, info)
            adapter = self._adapter(data)
            config = _config(data, self.max_logprobs, chat)
            if chat:
                infer_request = InferRequest(_messages(data, self.media), tools=_tools(data), adapter=adapter)
            else:
                prompt = data.get("prompt")
                if isinstance(prompt, list) and len(prompt) == 1:
                    prompt = prompt[0]
                if not isinstance(prompt, str) or not prompt:
                    raise InferError("'prompt' must be a non-empty string (one prompt per request)", "prompt")
                if data.get("echo") or data.get("suffix"):
                    raise InferError("'echo' and 'suffix' are not supported", "echo" if data.get("echo") else "suffix")
                infer_request = InferRequest([], prompt=prompt, adapter=adapter)
            model = data.get("model") or self.model_name
            if config.stream:
                info["stream"] = True
                return await self._stream(request, infer_request, config, model, chat, data, started, info)
            response = await self._complete(request, infer_request, config)
            if response is None:  # the client went away
                from starlette.responses import Response

                info["error"] = "the client disconnected"
                return Response(status_code=499)
        except InferError as exc:
            info["error"] = exc.message
            return _error(exc.status, exc.message, exc.param, exc.code)
        info.update(prompt_tokens=response.usage.prompt_tokens, completion_tokens=response.usage.completion_tokens)
        body = _chat_body(response, model) if chat else _completion_body(response, model)
        info["response"] = body
        self._record(data, body, chat, started)
        return _json(body)

    def _record(self, data: dict, body: dict, chat: bool, started: float) -> None:
        """One ``--result_path`` line for an answered request (queued: the writer thread writes it)."""
        if self.results is None:
            return
        usage = body.get("usage") or {}
        self.results.append(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "endpoint": "/v1/chat/completions" if chat else "/v1/completions",
                "request": data,
                "response": body,
                "latency": round(time.perf_counter() - started, 6),
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
            }
        )

    async def _complete(self, request: Any, infer_request: InferRequest, config: RequestConfig) -> Any:
        """The engine's answer, or None when the client disconnects first (the request is cancelled)."""
        task = asyncio.ensure_future(self._infer(infer_request, config))

        async def gone() -> None:
            while (await request.receive())["type"] != "http.disconnect":
                pass

        watcher = asyncio.ensure_future(gone())
        self.in_flight += 1
        try:
            done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.in_flight -= 1
            watcher.cancel()
        if task in done:
            return task.result()
        task.cancel()
        return None

    async def _infer(self, infer_request: InferRequest, config: RequestConfig) -> Any:
        return await self.engine.infer_async(infer_request, config, strict=True)

    async def _stream(
        self,
        request: Any,
        infer_request: InferRequest,
        config: RequestConfig,
        model: str,
        chat: bool,
        data: dict,
        started: float,
        info: dict,
    ) -> Any:
        source = self.engine.infer_stream_async(infer_request, config, strict=True)
        try:
            first = await source.__anext__()  # the request's errors surface here, before the 200
        except StopAsyncIteration:
            first = None
        except BaseException:
            await source.aclose()
            raise
        include_usage = bool((data.get("stream_options") or {}).get("include_usage"))
        server = self

        async def events() -> AsyncIterator[bytes]:
            server.in_flight += 1
            usage = None
            texts: dict[int, list[str]] = {}  # the answer of each choice, for --result_path
            reasons: dict[int, Optional[str]] = {}
            ended = False
            try:
                chunk = first
                while chunk is not None:
                    if chunk.usage is not None:
                        usage = chunk.usage
                    for c in chunk.choices:
                        texts.setdefault(c.index, []).append(c.delta.get("content") or "")
                        reasons[c.index] = c.finish_reason or reasons.get(c.index)
                    yield _sse(server._chunk_body(chunk, model, chat, include_usage))
                    try:
                        chunk = await source.__anext__()
                    except StopAsyncIteration:
                        chunk = None
                if include_usage and usage is not None:
                    yield _sse(
                        {
                            "id": first.id if first else "",
                            "object": "chat.completion.chunk" if chat else "text_completion",
                            "created": int(time.time()),
                            "model": model,
                            "choices": [],
                            "usage": _usage(usage),
                        }
                    )
                ended = True
                if usage is not None:
                    info.update(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
                if first is not None:
                    info["response"] = server._streamed_body(first.id, model, chat, texts, reasons, usage)
                    server._record(data, info["response"], chat, started)
            except InferError as exc:
                ended, info["error"] = True, exc.message
                yield _sse(exc.to_dict())
            except Exception as exc:  # the stream already started: report in-band, the detail to the log only
                logger.error("%s: the stream failed", info.get("id"), exc_info=exc)
                ended, info["error"] = True, f"{type(exc).__name__}: {exc}"
                yield _sse(
                    {
                        "error": {
                            "message": f"The server had an error while processing your request "
                            f"(request id {info.get('id')}).",
                            "type": "server_error",
                            "param": None,
                            "code": "internal_error",
                        }
                    }
                )
            finally:
                server.in_flight -= 1
                if not ended:
                    info["error"] = "the client disconnected"
                await source.aclose()
            yield b"data: [DONE]\n\n"

        return EventStream(events())

    @staticmethod
    def _streamed_body(chunk_id: str, model: str, chat: bool, texts: dict, reasons: dict, usage: Any) -> dict:
        """A streamed answer as the non-streamed body would be (what ``--result_path`` logs)."""
        choices = []
        for index in sorted(texts):
            text = "".join(texts[index])
            content = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
            choices.append({"index": index, **content, "finish_reason": reasons.get(index)})
        return {
            "id": chunk_id,
            "object": "chat.completion" if chat else "text_completion",
            "model": model,
            "choices": choices,
            "usage": _usage(usage) if usage is not None else None,
        }

    def _chunk_body(self, chunk: Any, model: str, chat: bool, include_usage: bool) -> dict:
        usage = None if include_usage or chunk.usage is None else _usage(chunk.usage)
        if chat:
            body = {
                "id": chunk.id,
                "object": "chat.completion.chunk",
                "created": chunk.created,
                "model": model,
                "choices": [
                    {"index": c.index, "delta": c.delta, "finish_reason": c.finish_reason, "logprobs": c.logprobs}
                    for c in chunk.choices
                ],
            }
        else:
            body = {
                "id": "cmpl-" + chunk.id.split("-", 1)[-1],
                "object": "text_completion",
                "created": chunk.created,
                "model": model,
                "choices": [
                    {
                        "index": c.index,
                        "text": c.delta.get("content", ""),
                        "finish_reason": c.finish_reason,
                        "logprobs": _completion_logprobs(c.logprobs["content"], 0) if c.logprobs else None,
                    }
                    for c in chunk.choices
                ],
            }
        if usage is not None:
            body["usage"] = usage
        return body

    async def _log_stats(self) -> None:
        last = self.engine.stats() or {}
        last_time = time.perf_counter()
        while True:
            await asyncio.sleep(self.log_interval)
            stats = self.engine.stats() or {}
            now = time.perf_counter()
            prompt = stats.get("prompt_tokens", 0) - last.get("prompt_tokens", 0)
            generated = stats.get("generation_tokens", 0) - last.get("generation_tokens", 0)
            if prompt or generated or stats.get("running"):
                elapsed = max(now - last_time, 1e-9)
                logger.info(
                    "prompt %.1f tokens/s, generation %.1f tokens/s, running %d, waiting %d",
                    prompt / elapsed,
                    generated / elapsed,
                    stats.get("running", 0),
                    stats.get("waiting", 0),
                )
            last, last_time = stats, now


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[swiftk] %(message)s"))
    for name in ("swiftk.deploy", "swiftk.infer"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def build_server(args: Any) -> Server:
    """The engine that ``args`` describe and the server's routes over it (what ``swiftk deploy`` serves,
    and ``swiftk eval`` starts in the background); the caller closes ``server.engine`` and ``server.results``."""
    from swiftk.api import UsageError
    from swiftk_infer.command import build_engine

    if args.get("ddp_backend"):
        raise UsageError(
            f"--ddp_backend {args.ddp_backend}: swiftk deploy serves from one process; the backend is "
            f"for NPROC_PER_NODE=N swiftk infer over a dataset"
        )
    limit = args.get("max_request_bytes")
    limit = MAX_REQUEST_BYTES if limit is None else int(limit)
    if limit < 1:
        raise UsageError(f"--max_request_bytes {limit}: must be at least 1")
    engine = build_engine(args)
    results = None
    if args.get("result_path"):
        from swiftk_infer.results import JsonlWriter

        results = JsonlWriter(args.result_path)
        print(f"[swiftk] result_path: {results.path} (one line per answered request)", flush=True)
    return Server(
        engine,
        served_model_name=args.get("served_model_name") or engine.model_name,
        api_key=args.get("api_key"),
        owned_by=args.get("owned_by") or "swift",
        max_logprobs=int(args.get("max_logprobs") or 0),
        verbose=bool(args.get("verbose", True)),
        log_interval=int(args.get("log_interval") or -1),
        results=results,
        max_request_bytes=limit,
        cors_allow_origins=tuple(args.get("cors_allow_origins") or ()),
        allowed_local_media_path=args.get("allowed_local_media_path"),
    )


def _close(server: Server) -> None:
    server.engine.close()
    if server.results is not None:
        server.results.close()


def _uvicorn_config(app: Any, host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=None, lifespan="on"
    )


def run_deploy(args: Any) -> int:
    """``swiftk deploy``: load the engine, then serve until SIGTERM/SIGINT."""
    import os

    _setup_logging()
    host, port = args.get("host") or "0.0.0.0", int(args.get("port") or 8000)
    if host not in _LOOPBACK and not args.get("api_key"):
        logger.warning(
            "WARNING: listening on %s without --api_key: anyone who can reach this machine can use "
            "the model; pass --api_key or --host 127.0.0.1",
            host,
        )
    from swiftk.api import startup_phase

    # the ~10^6 objects of torch, transformers, the model and the app: allocated without collection
    # passes, then frozen, so that no full collection walks them again while serving
    with startup_phase(args):
        server = build_server(args)
        app = server.create_app()
        import uvicorn

    class _Uvicorn(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.should_exit:
                return
            bound = [s.getsockname() for srv in self.servers for s in (srv.sockets or [])]
            where = bound[0] if bound else (host, port)
            shown = f"[{where[0]}]" if ":" in str(where[0]) else where[0]
            print(
                f"[swiftk] serving {', '.join(server.models())} at http://{shown}:{where[1]}/v1 (pid {os.getpid()})",
                flush=True,
            )

    try:
        _Uvicorn(_uvicorn_config(app, host, port)).run()
    finally:
        _close(server)
    return 0


class BackgroundServer:
    """``swiftk deploy`` of ``args`` in a thread of this process, on 127.0.0.1 and a free port, for a
    command that needs the model behind the OpenAI API for a while (``swiftk eval``).  Use as a context
    manager: ``url`` (``http://127.0.0.1:PORT/v1``) and ``model`` once entered; leaving stops it.
    Without ``--verbose`` the per-request lines are not logged (the caller's output stays its own)."""

    def __init__(self, args: Any, timeout: float = 60.0):
        self.args, self.timeout = args, timeout
        self.url: Optional[str] = None
        self.model: Optional[str] = None
        self._thread: Any = None

    def __enter__(self) -> "BackgroundServer":
        import threading

        import uvicorn

        _setup_logging()
        self._level = logger.level
        if not self.args.get("verbose"):
            logger.setLevel(logging.WARNING)
        self.server = self._uvicorn = None
        try:
            self.server = build_server(self.args)
            self.model = self.server.model_name
            self._uvicorn = uvicorn.Server(_uvicorn_config(self.server.create_app(), "127.0.0.1", 0))
            # uvicorn takes signals only in the main thread: SIGINT/SIGTERM stay the command's
            self._thread = threading.Thread(target=self._uvicorn.run, name="swiftk-background-server", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + self.timeout
            while not self._uvicorn.started:
                if not self._thread.is_alive() or time.monotonic() > deadline:
                    from swiftk.api import UsageError

                    raise UsageError(
                        f"the model could not be served on 127.0.0.1 (no answer within {self.timeout:.0f} s)"
                    )
                time.sleep(0.02)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        port = self._uvicorn.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        logger.setLevel(self._level)
        if self.server is not None:
            _close(self.server)
