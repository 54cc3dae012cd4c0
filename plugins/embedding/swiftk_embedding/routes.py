"""``swiftk deploy``'s routes for an embedding or reranker model.

* ``POST /v1/embeddings`` (OpenAI's): ``{"model", "input": str | [str], "encoding_format": "float" | "base64"}``
  -> ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model", "usage"}``.
* ``POST /v1/rerank`` (also ``/rerank`` and ``/v2/rerank``; the form vLLM, Jina and Cohere use):
  ``{"model", "query", "documents": [str | {"text"}], "top_n", "return_documents"}`` -> ``{"id", "model",
  "usage": {"total_tokens"}, "results": [{"index", "relevance_score", "document": {"text"}}]}``, best first.
  A reranker scores each (query, document); an embedding model gives their cosine similarity.
"""

from __future__ import annotations

import asyncio
import base64
import struct
import time
import uuid
from typing import Any

from swiftk.api import InferError


def _texts(data: dict, key: str) -> list[str]:
    value = data.get(key)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise InferError(f"'{key}' must be a non-empty string or list of strings", key)
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("text"), str):
            item = item["text"]
        if not isinstance(item, str) or not item:
            raise InferError(f"'{key}' must hold non-empty strings (token ids are not accepted), got {item!r}", key)
        out.append(item)
    return out


def _encoded(vector: list[float], fmt: str) -> Any:
    if fmt == "base64":  # OpenAI's: little-endian float32
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


def embeddings_body(engine: Any, data: dict, model: str) -> dict:
    fmt = data.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise InferError(f"'encoding_format' must be float or base64, got {fmt!r}", "encoding_format")
    texts = _texts(data, "input")
    vectors, counts = engine.embed([[{"role": "user", "content": t}] for t in texts])
    items = [{"object": "embedding", "index": i, "embedding": _encoded(v, fmt)} for i, v in enumerate(vectors)]
    tokens = sum(counts)
    return {"object": "list", "data": items, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def rerank_body(engine: Any, data: dict, model: str) -> dict:
    query = data.get("query")
    if not isinstance(query, str) or not query:
        raise InferError("'query' must be a non-empty string", "query")
    documents = _texts(data, "documents")
    top_n = data.get("top_n")
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1):
        raise InferError(f"'top_n' must be a positive integer, got {top_n!r}", "top_n")
    scores, tokens = engine.rerank(query, documents)
    order = sorted(range(len(documents)), key=lambda i: -scores[i])[: top_n or len(documents)]
    keep = data.get("return_documents", True) is not False
    results = [
        {"index": i, "relevance_score": scores[i], **({"document": {"text": documents[i]}} if keep else {})}
        for i in order
    ]
    return {
        "id": f"rerank-{uuid.uuid4().hex}",
        "object": "rerank",
        "created": int(time.time()),
        "model": model,
        "usage": {"total_tokens": tokens, "prompt_tokens": tokens},
        "results": results,
    }


def routes(engine: Any, server: Any) -> list[tuple[str, Any, list[str]]]:
    """``(path, endpoint, methods)`` for Starlette's ``add_route``, bound to the engine and server."""
    from swiftk_infer.deploy import _error, _json

    def endpoint(build: Any) -> Any:
        async def handle(request: Any) -> Any:
            info = request.scope.setdefault("swiftk", {})
            if not server._authorized(request):
                info["error"] = "unauthorized"
                return server._unauthorized()
            try:
                data = await server._body(request, info)
                server._adapter(data)  # an unknown model name is a 404, as for chat
                model = data.get("model") or server.model_name
                body = await asyncio.to_thread(build, engine, data, model)
            except InferError as exc:
                info["error"] = exc.message
                return _error(exc.status, exc.message, exc.param, exc.code)
            info.update(prompt_tokens=body["usage"]["total_tokens"], completion_tokens=0)
            return _json(body)

        return handle

    rerank = endpoint(rerank_body)
    found = [("/v1/rerank", rerank, ["POST"]), ("/rerank", rerank, ["POST"]), ("/v2/rerank", rerank, ["POST"])]
    if engine.task == "embedding":
        found.insert(0, ("/v1/embeddings", endpoint(embeddings_body), ["POST"]))
    return found
