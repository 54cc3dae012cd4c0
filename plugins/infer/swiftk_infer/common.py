"""What every chat engine built on a swiftk template shares: defaults merged with each request,
conversations encoded with the template, generation parameters resolved and checked.

No torch at import: the vLLM and LMDeploy engines reuse it in their own environments.
"""

from __future__ import annotations

import asyncio
import json
import math
import queue
import threading
import unicodedata
from typing import Any, Iterator, Optional

from swiftk.api import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    InferEngine,
    InferError,
    InferRequest,
    RequestConfig,
)

_UNKNOWN_CONTEXT = 32768
#: A temperature below this is greedy decoding, as in vLLM (its ``_SAMPLING_EPS``): sampling at 1e-40
#: overflows the logits to inf (NaN probabilities), and greedy is the limit of sampling as it goes to 0.
#: (vLLM 0.32 instead raises temperatures in (0, 0.01) to 0.01 and keeps sampling.)
SAMPLING_EPS = 1e-5
#: ``seed`` must fit torch's generators (and vLLM's int64 field).
SEED_RANGE = (-(2**63), 2**63 - 1)


def served_name(args: Any) -> str:
    """``--served_model_name``, else the last part of ``--model``."""
    return args.get("served_model_name") or (args.model or "model").rstrip("/").split("/")[-1]


def engine_inputs(args: Any) -> tuple[Any, Any, Any, list[str], dict[str, str]]:
    """What an engine that loads the weights itself (vLLM, LMDeploy) needs from us: the processor, the
    model info, the inference template, and ``--adapters`` split into unnamed and named ones."""
    from swiftk.api import get_template, load_model_and_processor
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


# How many characters one token can stand for, so that a prompt's length in characters proves it is longer
# than the context before it is tokenized (an 8 MB prompt takes seconds and gigabytes to tokenize).
# The argument, for a fast tokenizer whose model is BPE over bytes (byte-level: a token is a string of byte
# symbols, one per byte; or byte fallback: a piece covers its own characters, a byte token part of one):
# every character of the normalized text is covered by at least one token and a token covers at most
# L characters, L the longest token string (added tokens included). So tokens >= normalized chars / L.
# The pre-tokenizer must keep every character (no Whitespace splitter dropping spaces), and the normalizer
# may shrink the text by a known factor only: NFC composes at most the 4 code points of the longest
# canonical decomposition (U+1F82) into one character, NFKC the 18 of U+FDFA; text already in that form
# is left as is (but for a combining mark at its start joining the character before it); NFD, NFKD,
# Prepend and a one-character Replace (SentencePiece's " " -> "▁") never shrink it.
_NORMALIZER_SHRINK = {"NFD": 1, "NFKD": 1, "Prepend": 1, "NFC": 4, "NFKC": 18}
_KEEPING_PRE_TOKENIZERS = {"ByteLevel", "Split", "Metaspace", "Digits", "Punctuation", "Sequence"}


def _components(config: Optional[dict], key: str) -> list[dict]:
    if not config:
        return []
    if config.get("type") == "Sequence":
        return [c for part in config.get(key, []) for c in _components(part, key)]
    return [config]


def token_span(tokenizer: Any) -> Optional[tuple[int, dict[str, int]]]:
    """``(L, {form: shrink})`` for :func:`min_prompt_tokens`, or None when this tokenizer's form proves
    nothing (a WordPiece or unknown token can stand for a whole word; a normalizer may drop characters)."""
    try:
        return _token_span(tokenizer)
    except Exception:  # a tokenizers version whose parts read otherwise: no bound, the prompt is tokenized
        return None


def _token_span(tokenizer: Any) -> Optional[tuple[int, dict[str, int]]]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or type(backend.model).__name__ != "BPE":
        return None
    state = lambda part: json.loads(part.__getstate__()) if part is not None else None  # noqa: E731
    pre = _components(state(backend.pre_tokenizer), "pretokenizers")
    if any(p.get("type") not in _KEEPING_PRE_TOKENIZERS or p.get("behavior") == "Removed" for p in pre):
        return None
    vocab = backend.get_vocab(with_added_tokens=True)
    byte_level = any(p.get("type") == "ByteLevel" for p in pre)
    if not byte_level and not (backend.model.byte_fallback and "<0x00>" in vocab):
        return None
    forms: dict[str, int] = {}
    for norm in _components(state(backend.normalizer), "normalizers"):
        kind = norm.get("type")
        if kind == "Replace" and len((norm.get("pattern") or {}).get("String") or "") == 1 and norm.get("content"):
            continue
        if kind not in _NORMALIZER_SHRINK:
            return None
        if _NORMALIZER_SHRINK[kind] > 1:
            forms[kind] = _NORMALIZER_SHRINK[kind]
    return max(len(token) for token in vocab), forms


def min_prompt_tokens(span: tuple[int, dict[str, int]], texts: list[str]) -> int:
    """A lower bound on the tokens of a prompt that contains each of ``texts`` (see :func:`token_span`)."""
    longest, forms = span
    chars = 0.0
    for text in texts:
        shrink = 1
        for form, factor in forms.items():
            if not unicodedata.is_normalized(form, text):
                shrink *= factor
        chars += len(text) / shrink - (1 if forms else 0)
    return max(0, int(chars // longest))


class Params:
    """The resolved generation parameters of one sequence."""

    __slots__ = (
        "max_tokens",
        "temperature",
        "top_k",
        "top_p",
        "repetition_penalty",
        "stop",
        "logprobs",
        "top_logprobs",
        "seed",
        "ignore_eos",
    )

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
        return list(self._encode_full(request)["input_ids"])

    def _encode_full(self, request: InferRequest) -> dict:
        """The template's encoding of the prompt (a multimodal template's has the media's tensors too)."""
        self._refuse_surely_too_long(request)
        try:
            if request.prompt is not None and not request.messages:
                return {"input_ids": list(self.tokenizer(request.prompt)["input_ids"])}
            row: dict[str, Any] = {"messages": request.messages}
            if request.tools:
                row["tools"] = request.tools
            return self.template.encode(row, add_generation_prompt=True)
        except InferError:
            raise
        except ValueError as exc:
            text = str(exc)
            if "max_length" in text or "tokens, more than" in text:
                raise InferError(
                    f"the prompt is longer than the model's context of {self.max_model_len} tokens ({text})",
                    "messages",
                    code="context_length_exceeded",
                ) from None
            raise InferError(text, "messages") from None

    async def _encode_async(self, request: InferRequest) -> list[int]:
        """:meth:`_encode` in a worker thread: rendering and tokenizing a long prompt takes long enough to
        stall every other client of the event loop."""
        return await asyncio.to_thread(self._encode, request)

    def _refuse_surely_too_long(self, request: InferRequest) -> None:
        """Refuse a prompt whose characters alone prove it longer than the context, before tokenizing it.

        Counted: the raw prompt, or the text of each message after its last ``</think>`` (templates drop
        earlier reasoning), stripped of surrounding whitespace: what every template writes, or refuses; only
        when the template would not truncate the prompt instead."""
        span = self.__dict__.get("_token_span", False)
        if span is False:
            span = self._token_span = token_span(self.tokenizer) if self.tokenizer is not None else None
        if span is None:
            return
        if request.prompt is not None and not request.messages:
            texts = [request.prompt]
        elif getattr(self.template, "truncation_strategy", "delete") == "delete":
            texts = [
                m["content"].split("</think>")[-1].strip()
                for m in request.messages
                if isinstance(m.get("content"), str)
            ]
        else:
            return
        context, chars = self.max_model_len or _UNKNOWN_CONTEXT, sum(map(len, texts))
        if chars > context * span[0] and (least := min_prompt_tokens(span, texts)) >= context:
            raise InferError(
                f"This model's maximum context length is {context} tokens; the prompt has at least "
                f"{least} (from its {chars} characters)",
                "messages",
                code="context_length_exceeded",
            )

    def _params(self, config: RequestConfig, prompt_len: int, strict: bool) -> Params:
        """Resolve and check the parameters of one request (``strict``: a server refuses what an
        offline run clamps, such as ``max_tokens`` beyond the context)."""
        gen = self._generation
        for key in ("temperature", "top_p", "repetition_penalty"):
            value = getattr(config, key)
            if value is not None and not math.isfinite(value):
                raise InferError(f"{key} must be a finite number, got {value}", key)
        if config.seed is not None and not SEED_RANGE[0] <= config.seed <= SEED_RANGE[1]:
            raise InferError(f"seed must be a 64-bit integer, got {config.seed}", "seed")
        if config.temperature is not None and config.temperature < 0:
            raise InferError(f"temperature must be >= 0, got {config.temperature}", "temperature")
        if config.top_p is not None and not 0 < config.top_p <= 1:
            raise InferError(f"top_p must be in (0, 1], got {config.top_p}", "top_p")
        if config.top_k is not None and config.top_k < -1:
            raise InferError(f"top_k must be -1, 0 or positive, got {config.top_k}", "top_k")
        if config.repetition_penalty is not None and config.repetition_penalty <= 0:
            raise InferError(f"repetition_penalty must be > 0, got {config.repetition_penalty}", "repetition_penalty")
        if config.max_tokens is not None and config.max_tokens < 1:
            raise InferError(f"max_tokens must be >= 1, got {config.max_tokens}", "max_tokens")
        if (config.n or 1) < 1:
            raise InferError(f"n must be >= 1, got {config.n}", "n")
        if config.top_logprobs is not None and config.top_logprobs < 0:
            raise InferError(f"top_logprobs must be >= 0, got {config.top_logprobs}", "top_logprobs")
        context = self.max_model_len or _UNKNOWN_CONTEXT
        if prompt_len >= context:
            raise InferError(
                f"This model's maximum context length is {context} tokens; the prompt has "
                f"{prompt_len}, which leaves no room to answer",
                "messages",
                code="context_length_exceeded",
            )
        room = context - prompt_len
        max_tokens = config.max_tokens
        if max_tokens is None:
            max_tokens = room
        elif max_tokens > room:
            if strict:
                raise InferError(
                    f"This model's maximum context length is {context} tokens. However, you "
                    f"requested {prompt_len + max_tokens} tokens ({prompt_len} in the prompt, "
                    f"{max_tokens} for the completion)",
                    "max_tokens",
                    code="context_length_exceeded",
                )
            max_tokens = room
        temperature = config.temperature
        if temperature is None:
            temperature = float(getattr(gen, "temperature", None) or 1.0) if getattr(gen, "do_sample", False) else 0.0
        if temperature < SAMPLING_EPS:
            temperature = 0.0
        top_k = config.top_k if config.top_k is not None else (getattr(gen, "top_k", None) or 0)
        top_p = config.top_p if config.top_p is not None else (getattr(gen, "top_p", None) or 1.0)
        penalty = config.repetition_penalty or getattr(gen, "repetition_penalty", None) or 1.0
        stop = [s for s in (config.stop or []) if isinstance(s, str) and s]
        return Params(
            max_tokens=int(max_tokens),
            temperature=float(temperature),
            top_k=max(0, int(top_k)),
            top_p=float(top_p),
            repetition_penalty=float(penalty),
            stop=stop,
            logprobs=bool(config.logprobs),
            top_logprobs=int(config.top_logprobs or 0),
            seed=config.seed,
            ignore_eos=bool(config.ignore_eos),
        )


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

    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        futures = [self._run(self.infer_async(r, config, strict=False)) for r in requests]
        if use_tqdm:
            from tqdm import tqdm

            return [f.result() for f in tqdm(futures, desc="infer", unit="request")]
        return [f.result() for f in futures]

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
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
