"""What every chat engine built on a swiftk template shares: defaults merged with each request,
conversations encoded with the template, generation parameters resolved and checked.

No torch at import: the vLLM and LMDeploy engines reuse it in their own environments.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Iterator, Optional

from swiftk.infer import (ChatCompletionResponse, ChatCompletionStreamResponse, InferEngine, InferError,
                          InferRequest, RequestConfig)

_UNKNOWN_CONTEXT = 32768


def served_name(args: Any) -> str:
    """``--served_model_name``, else the last part of ``--model``."""
    return args.get("served_model_name") or (args.model or "model").rstrip("/").split("/")[-1]


def engine_inputs(args: Any) -> tuple[Any, Any, Any, list[str], dict[str, str]]:
    """What an engine that loads the weights itself (vLLM, LMDeploy) needs from us: the processor, the
    model info, the inference template, and ``--adapters`` split into unnamed and named ones."""
    from swiftk.pipelines.model import get_template, load_model_and_processor
    from swiftk_infer.pt_engine import split_adapters

    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="infer")
    plain, named = split_adapters(list(args.get("adapters") or []))
    return processor, info, template, plain, named


def generation_config(model_dir: str) -> Any:
    """The model's ``generation_config.json`` (its default sampling), or None without one."""
    try:
        from transformers import GenerationConfig

        return GenerationConfig.from_pretrained(model_dir)
    except Exception:  # no generation_config.json
        return None


class Params:
    """The resolved generation parameters of one sequence."""

    __slots__ = ("max_tokens", "temperature", "top_k", "top_p", "repetition_penalty", "stop", "logprobs",
                 "top_logprobs", "seed", "ignore_eos")

    def __init__(self, **values: Any):
        for key, value in values.items():
            setattr(self, key, value)



class TemplateEngine(InferEngine):
    """Base of engines that encode with a swiftk template (``self.template``, ``self.tokenizer``,
    ``self.defaults``, ``self.max_model_len``, ``self._generation``: a transformers GenerationConfig
    or None)."""

    template: Any = None
    tokenizer: Any = None
    defaults: RequestConfig = RequestConfig()
    _generation: Any = None

    def _eos_ids(self) -> list[int]:
        ids = [self.tokenizer.eos_token_id] + list(getattr(self.template, "stop_token_ids", []) or [])
        generation = self._generation
        extra = getattr(generation, "eos_token_id", None)
        ids += extra if isinstance(extra, list) else [extra]
        return sorted({i for i in ids if i is not None})

    def _pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else self._eos_ids()[0]

    # -- requests ---------------------------------------------------------------------------------
    def _merged(self, config: Optional[RequestConfig]) -> RequestConfig:
        merged = RequestConfig(**vars(self.defaults))
        merged.stop = list(self.defaults.stop or [])
        for key, value in vars(config or RequestConfig()).items():
            if key == "stop":
                merged.stop = list(dict.fromkeys(list(value or []) + merged.stop))
            elif key in ("num_beams", "n"):
                if value and value != 1:
                    setattr(merged, key, value)
            elif key in ("stream", "logprobs", "ignore_eos"):
                setattr(merged, key, bool(value) or bool(getattr(self.defaults, key)))
            elif value is not None:
                setattr(merged, key, value)
        return merged

    def _encode(self, request: InferRequest) -> list[int]:
        try:
            if request.prompt is not None and not request.messages:
                return list(self.tokenizer(request.prompt)["input_ids"])
            row: dict[str, Any] = {"messages": request.messages}
            if request.tools:
                row["tools"] = request.tools
            return list(self.template.encode(row, add_generation_prompt=True)["input_ids"])
        except InferError:
            raise
        except ValueError as exc:
            text = str(exc)
            if "max_length" in text or "tokens, more than" in text:
                raise InferError(f"the prompt is longer than the model's context of {self.max_model_len} tokens "
                                 f"({text})", "messages", code="context_length_exceeded") from None
            raise InferError(text, "messages") from None

    def _params(self, config: RequestConfig, prompt_len: int, strict: bool) -> Params:
        """Resolve and check the parameters of one request (``strict``: a server refuses what an
        offline run clamps, such as ``max_tokens`` beyond the context)."""
        gen = self._generation
        if config.temperature is not None and config.temperature < 0:
            raise InferError(f"temperature must be >= 0, got {config.temperature}", "temperature")
        if config.top_p is not None and not 0 < config.top_p <= 1:
            raise InferError(f"top_p must be in (0, 1], got {config.top_p}", "top_p")
        if config.top_k is not None and config.top_k < -1:
            raise InferError(f"top_k must be -1, 0 or positive, got {config.top_k}", "top_k")
        if config.repetition_penalty is not None and config.repetition_penalty <= 0:
            raise InferError(f"repetition_penalty must be > 0, got {config.repetition_penalty}",
                             "repetition_penalty")
        if config.max_tokens is not None and config.max_tokens < 1:
            raise InferError(f"max_tokens must be >= 1, got {config.max_tokens}", "max_tokens")
        if (config.n or 1) < 1:
            raise InferError(f"n must be >= 1, got {config.n}", "n")
        if config.top_logprobs is not None and config.top_logprobs < 0:
            raise InferError(f"top_logprobs must be >= 0, got {config.top_logprobs}", "top_logprobs")
        context = self.max_model_len or _UNKNOWN_CONTEXT
        if prompt_len >= context:
            raise InferError(f"This model's maximum context length is {context} tokens; the prompt has "
                             f"{prompt_len}, which leaves no room to answer", "messages",
                             code="context_length_exceeded")
        room = context - prompt_len
        max_tokens = config.max_tokens
        if max_tokens is None:
            max_tokens = room
        elif max_tokens > room:
            if strict:
                raise InferError(f"This model's maximum context length is {context} tokens. However, you "
                                 f"requested {prompt_len + max_tokens} tokens ({prompt_len} in the prompt, "
                                 f"{max_tokens} for the completion)", "max_tokens",
                                 code="context_length_exceeded")
            max_tokens = room
        temperature = config.temperature
        if temperature is None:
            temperature = float(getattr(gen, "temperature", None) or 1.0) if getattr(gen, "do_sample", False) else 0.0
        top_k = config.top_k if config.top_k is not None else (getattr(gen, "top_k", None) or 0)
        top_p = config.top_p if config.top_p is not None else (getattr(gen, "top_p", None) or 1.0)
        penalty = config.repetition_penalty or getattr(gen, "repetition_penalty", None) or 1.0
        stop = [s for s in (config.stop or []) if isinstance(s, str) and s]
        return Params(max_tokens=int(max_tokens), temperature=float(temperature), top_k=max(0, int(top_k)),
                       top_p=float(top_p), repetition_penalty=float(penalty), stop=stop,
                       logprobs=bool(config.logprobs), top_logprobs=int(config.top_logprobs or 0),
                       seed=config.seed, ignore_eos=bool(config.ignore_eos))



class AsyncLoopEngine(TemplateEngine):
    """Engines whose native API is asyncio (vLLM, LMDeploy) implement ``infer_async`` and
    ``infer_stream_async``; the blocking ``infer`` and ``infer_stream`` run them on a private event
    loop in a daemon thread, so a batch is submitted at once and the engine schedules it."""

    _loop: Optional[asyncio.AbstractEventLoop] = None

    def _run(self, coro: Any) -> Any:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, daemon=True, name="swiftk-engine-loop").start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def infer(self, requests: list[InferRequest], config: Optional[RequestConfig] = None,
              *, use_tqdm: bool = False) -> list[ChatCompletionResponse]:
        futures = [self._run(self.infer_async(r, config, strict=False)) for r in requests]
        if use_tqdm:
            from tqdm import tqdm

            return [f.result() for f in tqdm(futures, desc="infer", unit="request")]
        return [f.result() for f in futures]

    def infer_stream(self, request: InferRequest,
                     config: Optional[RequestConfig] = None) -> Iterator[ChatCompletionStreamResponse]:
        items: queue.SimpleQueue = queue.SimpleQueue()
        done = object()

        async def pump() -> None:
            try:
                async for chunk in self.infer_stream_async(request, config, strict=False):
                    items.put(chunk)
            except BaseException as exc:  # handed to the consumer
                items.put(exc)
            items.put(done)

        future = self._run(pump())
        try:
            while True:
                item = items.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            future.cancel()

    def stop_loop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
