"""The engine interface: batched and streaming chat generation."""
from __future__ import annotations

import abc
from typing import Iterator, Optional

from swiftk.infer.protocol import ChatCompletionResponse, ChatCompletionStreamResponse, InferRequest, RequestConfig


class InferEngine(abc.ABC):
    """What ``--infer_backend`` names: an object that continues conversations.

    Engines are registered with ``register_infer_engines`` as an :class:`swiftk.specs.EngineSpec`
    whose ``engine_cls`` has a ``from_args(args)`` constructor.
    """

    model_name: str = "model"

    @abc.abstractmethod
    def infer(self, requests: list[InferRequest], config: Optional[RequestConfig] = None,
              *, use_tqdm: bool = False) -> list[ChatCompletionResponse]:
        """One response per request, batched as the engine sees fit."""

    @abc.abstractmethod
    def infer_stream(self, request: InferRequest,
                     config: Optional[RequestConfig] = None) -> Iterator[ChatCompletionStreamResponse]:
        """Chunks of one response as they are generated; the last carries ``finish_reason`` and usage."""

    def close(self) -> None:
        """Release the model (engines holding processes or GPU memory override this)."""
