"""A small client of OpenAI-compatible servers (``swiftk deploy``, vLLM, ms-swift, OpenAI itself).

Standard library only: importing it imports neither torch nor an HTTP package, so code that only
talks to a server stays light. It is also an :class:`~swiftk.api.InferEngine`: code written against
engines runs unchanged against a server, with :meth:`InferClient.infer` sending a batch as
concurrent requests::

    from swiftk_infer.client import InferClient

    client = InferClient("http://127.0.0.1:8000/v1", api_key="sk-...")
    client.models()                                       # ['Qwen2.5-0.5B-Instruct', ...]
    client.chat([{"role": "user", "content": "hi"}], max_tokens=32, temperature=0).choices[0].message
    for chunk in client.chat_stream([{"role": "user", "content": "hi"}]):
        print(chunk.choices[0].delta.get("content", ""), end="")
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterator, Optional

from swiftk.api import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    Choice,
    InferEngine,
    InferError,
    InferRequest,
    RequestConfig,
    StreamChoice,
    Usage,
)

__all__ = ["InferClient", "config_to_params"]


def config_to_params(config: Optional[RequestConfig]) -> dict[str, Any]:
    """The OpenAI request fields of a :class:`RequestConfig` (unset ones left out)."""
    if config is None:
        return {}
    params: dict[str, Any] = {}
    for key in ("max_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "seed"):
        value = getattr(config, key)
        if value is not None:
            params[key] = value
    if config.stop:
        params["stop"] = list(config.stop)
    if (config.n or 1) != 1:
        params["n"] = config.n
    if config.logprobs:
        params["logprobs"] = True
        if config.top_logprobs is not None:
            params["top_logprobs"] = config.top_logprobs
    if config.ignore_eos:
        params["ignore_eos"] = True
    return params


def _usage(data: Optional[dict]) -> Usage:
    data = data or {}
    return Usage(
        int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0), int(data.get("total_tokens") or 0)
    )


class InferClient(InferEngine):
    """Chat with a model served at ``base_url`` (``http://host:port`` or ``http://host:port/v1``)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key: Optional[str] = None,
        model: Optional[str] = None,
        *,
        timeout: float = 600.0,
        max_workers: int = 16,
    ):
        url = base_url.rstrip("/")
        if not urllib.parse.urlparse(url).scheme:
            url = "http://" + url
        self.base_url = url if url.endswith("/v1") else url + "/v1"
        self.api_key = api_key
        self.timeout = timeout
        self.max_workers = max(1, int(max_workers))
        self._model = model

    # -- HTTP ------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except urllib.error.URLError as exc:
            raise ConnectionError(f"cannot reach {self.base_url}: {exc.reason}") from None

    @staticmethod
    def _error(exc: "urllib.error.HTTPError") -> InferError:
        text = exc.read().decode("utf-8", "replace")
        try:
            error = json.loads(text).get("error") or {}
        except (ValueError, AttributeError):
            error = {}
        message = error.get("message") if isinstance(error, dict) else None
        return InferError(
            message or f"HTTP {exc.code}: {text[:200]}",
            error.get("param") if isinstance(error, dict) else None,
            status=exc.code,
            code=error.get("code") if isinstance(error, dict) else None,
        )

    def _json(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        with self._request(method, path, body) as response:
            return json.loads(response.read())

    def _events(self, path: str, body: dict) -> Iterator[dict]:
        """The JSON payloads of a server-sent-events response, up to ``data: [DONE]``."""
        with self._request("POST", path, body) as response:
            for raw in response:
                line = raw.decode("utf-8").strip()
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                data = json.loads(payload)
                if isinstance(data, dict) and "error" in data and "choices" not in data:
                    error = data["error"] or {}
                    raise InferError(error.get("message", "stream failed"), error.get("param"), status=500)
                yield data

    # -- the API ---------------------------------------------------------------------------------
    @property
    def model_name(self) -> str:  # type: ignore[override]
        if self._model is None:
            self._model = self.models()[0]
        return self._model

    def models(self) -> list[str]:
        """The ids ``GET /v1/models`` lists (the first is the served model, then its adapters)."""
        return [m["id"] for m in self._json("GET", "/models").get("data", [])]

    def chat(self, messages: list[dict], *, model: Optional[str] = None, **params: Any) -> ChatCompletionResponse:
        data = self._json(
            "POST", "/chat/completions", {"model": model or self.model_name, "messages": messages, **params}
        )
        choices = [
            Choice(c.get("index", i), c.get("message") or {}, c.get("finish_reason"), c.get("logprobs"))
            for i, c in enumerate(data.get("choices", []))
        ]
        return ChatCompletionResponse(
            data.get("model", ""),
            choices,
            _usage(data.get("usage")),
            id=data.get("id", ""),
            created=int(data.get("created") or 0),
        )

    def chat_stream(
        self, messages: list[dict], *, model: Optional[str] = None, **params: Any
    ) -> Iterator[ChatCompletionStreamResponse]:
        body = {"model": model or self.model_name, "messages": messages, **params, "stream": True}
        for data in self._events("/chat/completions", body):
            choices = [
                StreamChoice(c.get("index", 0), c.get("delta") or {}, c.get("finish_reason"), c.get("logprobs"))
                for c in data.get("choices", [])
            ]
            usage = _usage(data["usage"]) if data.get("usage") else None
            yield ChatCompletionStreamResponse(
                data.get("model", ""), choices, data.get("id", ""), usage, created=int(data.get("created") or 0)
            )

    def completions(self, prompt: str, *, model: Optional[str] = None, **params: Any) -> dict:
        """``POST /v1/completions``: the raw JSON answer."""
        return self._json("POST", "/completions", {"model": model or self.model_name, "prompt": prompt, **params})

    # -- InferEngine -------------------------------------------------------------------------------
    def _body(self, request: InferRequest, config: Optional[RequestConfig]) -> dict:
        params = config_to_params(config)
        if request.tools:
            params["tools"] = request.tools
        return {"model": request.adapter or self.model_name, **params}

    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        from concurrent.futures import ThreadPoolExecutor

        def one(request: InferRequest) -> ChatCompletionResponse:
            params = self._body(request, config)
            return self.chat(request.messages, **params)

        if len(requests) <= 1:
            return [one(r) for r in requests]
        with ThreadPoolExecutor(min(self.max_workers, len(requests))) as pool:
            results = pool.map(one, requests)
            if use_tqdm:
                from tqdm import tqdm

                results = tqdm(results, total=len(requests), desc="infer", unit="request")
            return list(results)

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        yield from self.chat_stream(request.messages, **self._body(request, config))
