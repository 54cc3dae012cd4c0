"""The engine interface: batched and streaming chat generation, blocking and asyncio."""

from __future__ import annotations

import abc
from typing import Any, AsyncIterator, Iterator, Optional

from swiftk.infer.protocol import ChatCompletionResponse, ChatCompletionStreamResponse, InferRequest, RequestConfig


class InferEngine(abc.ABC):
    """What ``--infer_backend`` names: an object that continues conversations.

    Engines are registered with ``register_infer_engines`` as an :class:`swiftk.specs.EngineSpec`
    whose ``engine_cls`` has a ``from_args(args)`` constructor.

    Two methods are required, :meth:`infer` (a batch, blocking) and :meth:`infer_stream` (one
    request, chunk by chunk). The asyncio methods the server calls default to running those in a
    worker thread; engines with their own scheduler (pt's continuous batching, vLLM's
    ``AsyncLLMEngine``) override them so that concurrent requests share decoding steps.

    Errors that are the request's fault (a prompt longer than the context, an unknown adapter) are
    raised as :class:`swiftk.infer.InferError` before the first chunk, so a server can answer 4xx.
    """

    model_name: str = "model"
    #: The names of adapters served besides the model itself (``--adapters name=path``).
    adapter_names: tuple[str, ...] = ()
    #: Context length (prompt + completion), or None when unknown.
    max_model_len: Optional[int] = None

    @abc.abstractmethod
    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        """One response per request, batched as the engine sees fit."""

    @abc.abstractmethod
    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        """Chunks of one response as they are generated; the last carries ``finish_reason`` and usage."""

    async def infer_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> ChatCompletionResponse:
        """One response, awaited (default: :meth:`infer` in a worker thread).

        ``strict``: refuse with :class:`InferError` what an offline run would clamp (``max_tokens``
        beyond the context), as a server must."""
        import asyncio

        return (await asyncio.to_thread(self.infer, [request], config))[0]

    async def infer_stream_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> AsyncIterator[ChatCompletionStreamResponse]:
        """The chunks of :meth:`infer_stream`, awaited (default: a worker thread feeding a queue).

        Closing the iterator early (a client that went away) stops generation as soon as the
        engine allows.
        """
        import asyncio
        import threading

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        done = object()

        def produce() -> None:
            try:
                for chunk in self.infer_stream(request, config):
                    loop.call_soon_threadsafe(queue.put_nowait, chunk)
                    if stop.is_set():
                        break
                loop.call_soon_threadsafe(queue.put_nowait, done)
            except BaseException as exc:  # handed to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        threading.Thread(target=produce, daemon=True, name="swiftk-infer-stream").start()
        try:
            while True:
                item = await queue.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()

    def stats(self) -> Optional[dict[str, Any]]:
        """Counters for the server's ``log_interval`` line: ``prompt_tokens`` and ``generation_tokens``
        so far, ``running`` and ``waiting`` requests; None when the engine keeps none."""
        return None

    def weights_changed(self) -> None:
        """The model's weights were updated in place (a trainer generating with the policy it trains):
        drop whatever was computed with the old ones (cached prompt keys and values). Default: nothing."""

    def close(self) -> None:
        """Release the model (engines holding processes or GPU memory override this)."""
