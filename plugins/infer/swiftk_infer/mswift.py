"""ms-swift's ``PtEngine``, ``InferRequest`` and ``RequestConfig`` for files written for ms-swift.

swift-plugin-infer's ``mswift_facade`` hook offers these to ``swift.llm`` while an ms-swift file loads
(``--external_plugins``). The kernel's facade maps ms-swift's ``PtEngine(model_id_or_path, ...)``
keywords to ``swiftk infer`` arguments and calls :meth:`PtEngine.from_args`; the engine is the one
``swiftk infer`` builds, and its answers read as ms-swift's do
(``engine.infer([InferRequest(messages=...)], RequestConfig(max_tokens=...))[0].choices[0].message.content``).
Imports nothing heavy until an engine is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Optional, Union

from swiftk.api import ChatCompletionResponse, InferEngine
from swiftk.api import InferRequest as _InferRequest
from swiftk.api import RequestConfig as _RequestConfig


class ChatMessage(dict):
    """A message of a response: the OpenAI dict swiftk's engines return, readable as ms-swift's
    ``ChatMessage`` (``message.content``, ``message.role``, ``message.tool_calls``)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self.get(name)


@dataclass
class InferRequest(_InferRequest):
    """ms-swift's ``InferRequest``: ``messages`` plus the conversation's ``images``/``audios``/``videos``
    (where ``<image>``/``<audio>``/``<video>`` tags in the text say, else before the first user turn)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    images: list[Any] = field(default_factory=list)
    audios: list[Any] = field(default_factory=list)
    videos: list[Any] = field(default_factory=list)
    objects: dict[str, Any] = field(default_factory=dict)


@dataclass
class RequestConfig(_RequestConfig):
    """ms-swift's ``RequestConfig``; its sampling penalties that swiftk's engines lack must stay at their
    defaults (a request that sets one is refused, naming it)."""

    best_of: Optional[int] = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    length_penalty: float = 1.0
    return_details: bool = False
    structured_outputs_regex: Optional[str] = None


#: ms-swift RequestConfig fields swiftk's engines do not implement, with their neutral values.
_NEUTRAL = {
    "best_of": None,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "length_penalty": 1.0,
    "return_details": False,
    "structured_outputs_regex": None,
}
_MEDIA = ("images", "audios", "videos")


def swiftk_request(request: Union[_InferRequest, dict]) -> _InferRequest:
    """An ms-swift request (or its dict) as swiftk's: media as OpenAI content parts in the messages."""
    if isinstance(request, dict):
        request = InferRequest(**request)
    if getattr(request, "objects", None):
        raise ValueError("InferRequest(objects=...): grounding objects are not supported by swift-kernel's engines")
    messages = list(request.messages)
    if any(getattr(request, column, None) for column in _MEDIA):
        from swiftk_infer.command import with_media_parts

        messages = with_media_parts({"messages": messages, **{c: getattr(request, c) for c in _MEDIA}})
    return _InferRequest(messages=messages, tools=request.tools, prompt=request.prompt, adapter=request.adapter)


def swiftk_config(config: Optional[_RequestConfig]) -> Optional[_RequestConfig]:
    """An ms-swift ``RequestConfig`` as swiftk's; a sampling option swiftk lacks, set, is refused."""
    if config is None:
        return None
    for name, neutral in _NEUTRAL.items():
        value = getattr(config, name, neutral)
        if value != neutral:
            raise ValueError(f"RequestConfig({name}={value!r}) is not supported by swift-kernel's engines")
    return _RequestConfig(**{f.name: getattr(config, f.name) for f in fields(_RequestConfig)})


def _shaped(response: ChatCompletionResponse) -> ChatCompletionResponse:
    for choice in response.choices:
        if isinstance(choice.message, dict) and not isinstance(choice.message, ChatMessage):
            choice.message = ChatMessage(choice.message)
    return response


class MsSwiftEngine:
    """An engine of ``swiftk infer`` with ms-swift's ``infer`` signature; everything else is the engine's."""

    def __init__(self, engine: InferEngine):
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["engine"], name)

    def infer(
        self,
        infer_requests: list,
        request_config: Optional[_RequestConfig] = None,
        metrics: Optional[list] = None,
        *,
        template: Any = None,
        use_tqdm: Optional[bool] = None,
        adapter_request: Any = None,
    ) -> list:
        """One ``ChatCompletionResponse`` per request (with ``stream=True``: one iterator of chunks each)."""
        for name, value in (("metrics", metrics), ("template", template), ("adapter_request", adapter_request)):
            if value:
                raise ValueError(f"PtEngine.infer({name}=...) is not supported by swift-kernel's engines")
        requests = [swiftk_request(r) for r in infer_requests]
        config = swiftk_config(request_config)
        if config is not None and config.stream:
            return [self._stream(r, config) for r in requests]
        return [_shaped(r) for r in self.engine.infer(requests, config, use_tqdm=bool(use_tqdm))]

    def _stream(self, request: _InferRequest, config: _RequestConfig) -> Iterator[Any]:
        for chunk in self.engine.infer_stream(request, config):
            for choice in chunk.choices:
                choice.delta = ChatMessage(choice.delta or {})
            yield chunk

    def close(self) -> None:
        self.engine.close()


class PtEngine:
    """What the ``mswift_facade`` hook offers as ``PtEngine``: built from ``swiftk infer``'s arguments
    (the kernel's facade turns ms-swift's ``PtEngine(model_id_or_path, ...)`` into them)."""

    @staticmethod
    def from_args(args: Any) -> MsSwiftEngine:
        from swiftk_infer.command import build_engine

        return MsSwiftEngine(build_engine(args))


def facade_names() -> dict[str, Any]:
    """The ``swift.llm`` names swift-plugin-infer offers."""
    return {
        "PtEngine": PtEngine,
        "InferEngine": InferEngine,
        "InferRequest": InferRequest,
        "RequestConfig": RequestConfig,
        "ChatCompletionResponse": ChatCompletionResponse,
    }
