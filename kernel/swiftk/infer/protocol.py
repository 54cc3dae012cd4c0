"""Requests and responses of chat inference, shaped like OpenAI's chat completions API."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Optional


@dataclass
class InferRequest:
    """One conversation to continue: ``messages`` in OpenAI form, optional ``tools``.

    ``prompt`` (with empty ``messages``) is a raw text to continue without the chat template, as
    ``/v1/completions`` does; ``adapter`` names one of the adapters an engine serves (``--adapters
    name=path``), None meaning the model as loaded.
    """

    messages: list[dict[str, Any]]
    tools: Optional[list[dict[str, Any]]] = None
    prompt: Optional[str] = None
    adapter: Optional[str] = None


@dataclass
class RequestConfig:
    """Generation parameters of one request; ``None`` means the engine's default (from the arguments)."""

    max_tokens: Optional[int] = None
    temperature: Optional[float] = None  # 0 means greedy
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    repetition_penalty: Optional[float] = None
    num_beams: int = 1
    stop: list[str] = field(default_factory=list)
    seed: Optional[int] = None
    n: int = 1
    stream: bool = False
    logprobs: bool = False
    top_logprobs: Optional[int] = None
    ignore_eos: bool = False  # keep generating past eos (vLLM's extension; benchmarks)

    @classmethod
    def from_args(cls, args: Any) -> "RequestConfig":
        """Defaults from the page's generation arguments (max_new_tokens, temperature, ...).

        ``--seed`` is not copied: it seeds the engine once, so that requests without a seed of
        their own still sample differently from one another."""
        return cls(
            max_tokens=args.get("max_new_tokens"),
            temperature=args.get("temperature"),
            top_k=args.get("top_k"),
            top_p=args.get("top_p"),
            repetition_penalty=args.get("repetition_penalty"),
            num_beams=args.get("num_beams") or 1,
            stop=list(args.get("stop_words") or []),
            stream=bool(args.get("stream")),
            logprobs=bool(args.get("logprobs")),
            top_logprobs=args.get("top_logprobs"),
        )


class InferError(ValueError):
    """A request an engine cannot serve as asked (too long a prompt, a bad parameter): the client's
    mistake. The server answers it with ``status`` and an OpenAI-shaped error body naming ``param``."""

    def __init__(self, message: str, param: Optional[str] = None, status: int = 400, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status
        self.code = code

    def to_dict(self) -> dict[str, Any]:
        kind = {401: "authentication_error", 404: "not_found_error"}.get(
            self.status, "server_error" if self.status >= 500 else "invalid_request_error"
        )
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class Choice:
    index: int
    message: dict[str, Any]
    finish_reason: Optional[str] = None  # "stop" or "length"
    logprobs: Optional[dict[str, Any]] = None
    #: The generated token ids, ending with the end-of-sequence token the choice stopped on (if it
    #: stopped on one): what a trainer scoring its own rollouts (GRPO) needs; None when the engine
    #: does not report them. Servers leave it out of the OpenAI body.
    token_ids: Optional[list[int]] = None


@dataclass
class ChatCompletionResponse:
    model: str
    choices: list[Choice]
    usage: Usage
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex}")
    object: str = "chat.completion"
    created: int = field(default_factory=lambda: int(time.time()))
    #: The prompt as the engine tokenized it (the template's encoding), when the engine reports it.
    prompt_token_ids: Optional[list[int]] = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StreamChoice:
    index: int
    delta: dict[str, Any]
    finish_reason: Optional[str] = None
    logprobs: Optional[dict[str, Any]] = None


@dataclass
class ChatCompletionStreamResponse:
    model: str
    choices: list[StreamChoice]
    id: str
    usage: Optional[Usage] = None
    object: str = "chat.completion.chunk"
    created: int = field(default_factory=lambda: int(time.time()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
