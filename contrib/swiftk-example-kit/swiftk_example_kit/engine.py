"""``--infer_backend kit_greedy``: greedy decoding with transformers' ``generate``, one request at a time.

A deliberately simple engine (docs/inference.md, "Writing an engine"): the model and template are
loaded as ``swiftk infer`` loads them (``swiftk.api.load_model_and_processor`` and ``get_template`` in
``infer`` mode), each request is rendered by the template and answered greedily, and streaming runs
``generate`` in a thread with a streamer.  No batching, no sampling: a temperature above 0, ``n > 1``,
beam search and logprobs are refused with :class:`swiftk.api.InferError`.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
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
    UsageError,
    apply_adapters,
    get_template,
    load_model_and_processor,
)

_GREEDY_EPS = 1e-5  # temperatures below this are greedy (docs/inference.md)
_END = object()


class _Prepared:
    """One validated request: its prompt ids and generation limits."""

    def __init__(self, prompt_ids: list[int], max_tokens: int, stop: list[str], repetition_penalty: Optional[float]):
        self.prompt_ids = prompt_ids
        self.max_tokens = max_tokens
        self.stop = stop
        self.repetition_penalty = repetition_penalty


class GreedyEngine(InferEngine):
    def __init__(self, model: Any, processor: Any, template: Any, model_name: str, default_max_tokens: Optional[int]):
        super().__init__()
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.template = template
        self.model_name = model_name
        self.max_model_len = getattr(model.config, "max_position_embeddings", None)
        self.default_max_tokens = default_max_tokens
        self.stop_ids = sorted({int(t) for t in (template.stop_token_ids or [])} | self._eos_ids())
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        self._lock = threading.Lock()
        self._counters = {"prompt_tokens": 0, "generation_tokens": 0, "running": 0, "waiting": 0}

    def _eos_ids(self) -> set:
        eos = self.tokenizer.eos_token_id
        return {int(eos)} if eos is not None else set()

    @classmethod
    def from_args(cls, args: Any) -> "GreedyEngine":
        adapters = list(args.adapters or [])
        named = [a for a in adapters if "=" in a]
        if named:
            raise UsageError(f"--infer_backend kit_greedy serves no named adapters ({named[0]}); pass --adapters PATH")
        model, processor, model_info = load_model_and_processor(args)
        if adapters:
            model = apply_adapters(model, adapters, args)
        template = get_template(args, processor, model_info, "infer")
        name = os.path.basename(os.path.normpath(str(model_info.model_dir)))
        return cls(model, processor, template, name, args.max_new_tokens)

    # --- requests -------------------------------------------------------------------------------

    def _prepare(self, request: InferRequest, config: Optional[RequestConfig], strict: bool = False) -> _Prepared:
        config = config or RequestConfig()
        if request.adapter is not None:
            raise InferError(f"unknown adapter '{request.adapter}': kit_greedy serves the model only", "model", 404)
        if config.temperature is not None and config.temperature >= _GREEDY_EPS:
            raise InferError("kit_greedy decodes greedily only: temperature must be 0", "temperature")
        if config.n != 1 or config.num_beams != 1:
            raise InferError("kit_greedy gives one greedy answer: n and num_beams must be 1", "n")
        if config.logprobs:
            raise InferError("kit_greedy reports no logprobs", "logprobs")
        if request.prompt is not None and not request.messages:
            prompt_ids = list(self.tokenizer(request.prompt, add_special_tokens=False)["input_ids"])
        else:
            row: dict[str, Any] = {"messages": request.messages}
            if request.tools:
                row["tools"] = request.tools
            try:
                prompt_ids = list(self.template.encode(row)["input_ids"])
            except ValueError as e:
                raise InferError(f"the conversation cannot be rendered: {e}", "messages") from e
        limit = self.max_model_len
        if limit is not None and len(prompt_ids) >= limit:
            raise InferError(
                f"the prompt has {len(prompt_ids)} tokens, the model's context is {limit}",
                "messages",
                code="context_length_exceeded",
            )
        room = (limit - len(prompt_ids)) if limit is not None else None
        max_tokens = config.max_tokens if config.max_tokens is not None else self.default_max_tokens
        if max_tokens is None:
            max_tokens = room if room is not None else 512
        if max_tokens < 1:
            raise InferError("max_tokens must be at least 1", "max_tokens")
        if room is not None and max_tokens > room:
            if strict and config.max_tokens is not None:
                raise InferError(
                    f"max_tokens {max_tokens} plus the prompt's {len(prompt_ids)} tokens exceed the context of {limit}",
                    "max_tokens",
                    code="context_length_exceeded",
                )
            max_tokens = room
        return _Prepared(prompt_ids, int(max_tokens), list(config.stop or []), config.repetition_penalty)

    def _generate(self, job: _Prepared, streamer: Any = None, cancelled: Optional[threading.Event] = None) -> list[int]:
        import torch
        from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

        class _Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), bool(cancelled and cancelled.is_set()), dtype=torch.bool)

        config = GenerationConfig(
            do_sample=False,
            max_new_tokens=job.max_tokens,
            eos_token_id=self.stop_ids,
            pad_token_id=self.pad_id,
            repetition_penalty=job.repetition_penalty,
            stop_strings=job.stop or None,
        )
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([job.prompt_ids], device=device)
        with self._lock, torch.inference_mode():
            self._counters["running"] += 1
            try:
                output = self.model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    generation_config=config,
                    streamer=streamer,
                    stopping_criteria=StoppingCriteriaList([_Cancelled()]),
                    tokenizer=self.tokenizer if job.stop else None,
                    use_cache=True,
                )
            finally:
                self._counters["running"] -= 1
        ids = [int(t) for t in output[0, len(job.prompt_ids) :].tolist()]
        self._counters["prompt_tokens"] += len(job.prompt_ids)
        self._counters["generation_tokens"] += len(ids)
        return ids

    def _text(self, ids: list[int]) -> str:
        kept = ids[:-1] if ids and ids[-1] in self.stop_ids else ids
        return self.tokenizer.decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def _finish_reason(self, job: _Prepared, ids: list[int]) -> str:
        if ids and ids[-1] in self.stop_ids:
            return "stop"
        if job.stop and any(s in self._text(ids) for s in job.stop):
            return "stop"
        return "length" if len(ids) >= job.max_tokens else "stop"

    def _usage(self, job: _Prepared, ids: list[int]) -> Usage:
        return Usage(len(job.prompt_ids), len(ids), len(job.prompt_ids) + len(ids))

    # --- InferEngine ----------------------------------------------------------------------------

    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        jobs = [self._prepare(r, config) for r in requests]  # every request checked before any runs
        responses = []
        for job in jobs:
            ids = self._generate(job)
            choice = Choice(
                0,
                {"role": "assistant", "content": self._text(ids)},
                self._finish_reason(job, ids),
                token_ids=ids,
            )
            responses.append(
                ChatCompletionResponse(
                    self.model_name, [choice], self._usage(job, ids), prompt_token_ids=list(job.prompt_ids)
                )
            )
        return responses

    async def infer_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> ChatCompletionResponse:
        self._prepare(request, config, strict=strict)  # refuse in the caller, before any work
        return await super().infer_async(request, config, strict=strict)

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        job = self._prepare(request, config)  # raises here, before the first chunk
        return self._stream(job)

    def _stream(self, job: _Prepared) -> Iterator[ChatCompletionStreamResponse]:
        from transformers.generation.streamers import BaseStreamer

        tokens: queue.Queue = queue.Queue()
        cancelled = threading.Event()

        class _Streamer(BaseStreamer):
            prompt_seen = False

            def put(self, value):
                if not self.prompt_seen:  # generate first hands over the prompt
                    self.prompt_seen = True
                    return
                for t in value.reshape(-1).tolist():
                    tokens.put(int(t))

            def end(self):
                tokens.put(_END)

        result: dict[str, Any] = {}

        def run():
            try:
                result["ids"] = self._generate(job, _Streamer(), cancelled)
            except BaseException as e:  # handed to the consumer
                result["error"] = e
                tokens.put(_END)

        thread = threading.Thread(target=run, name="kit-greedy-stream", daemon=True)
        thread.start()
        rid = f"chatcmpl-{uuid.uuid4().hex}"
        ids: list[int] = []
        sent = ""
        try:
            while True:
                token = tokens.get()
                if token is _END:
                    break
                ids.append(token)
                text = self._text(ids)
                if text.startswith(sent) and len(text) > len(sent) and not text.endswith("\ufffd"):
                    delta, sent = text[len(sent) :], text
                    yield ChatCompletionStreamResponse(
                        self.model_name, [StreamChoice(0, {"role": "assistant", "content": delta})], rid
                    )
            thread.join()
            if "error" in result:
                raise result["error"]
            ids = result["ids"]
            text = self._text(ids)
            rest = text[len(sent) :] if text.startswith(sent) else ""
            yield ChatCompletionStreamResponse(
                self.model_name,
                [StreamChoice(0, {"role": "assistant", "content": rest}, self._finish_reason(job, ids))],
                rid,
                usage=self._usage(job, ids),
            )
        finally:
            cancelled.set()

    def stats(self) -> Optional[dict[str, Any]]:
        return dict(self._counters)

    def close(self) -> None:
        self.model = None
