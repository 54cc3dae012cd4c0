"""``--infer_backend pt``: transformers models with continuous batching.

A background thread owns the model and runs a decode loop over a batch of running sequences.
Requests that arrive while others run are prefilled (together, left-padded) in the same forward as
the running sequences' next tokens (:mod:`swiftk_infer.mixed_step`) and join the batch; finished or
cancelled sequences leave it at once. Each row of the batched
KV cache (a transformers ``DynamicCache`` whose layers keep the rows in buffers with room to grow,
:mod:`swiftk_infer.kv_slab`) is one sequence's own cache: rows are spliced in and out, and a 4D
additive attention mask hides the left padding, so a sequence sees exactly its own tokens, at its
own positions, whoever shares the batch.

The keys and values of the last few prompts are kept (``PREFIX_CACHE_*``): a new prompt that starts
like one of them (the same chat template and system prompt, say) copies those columns and prefills
only the tokens after them, at their own positions; a prefilled row may then hold masked columns
between its prefix and the rest, which the mask hides like left padding.

Every sequence samples with its own parameters (temperature 0 = greedy, top_k, top_p,
repetition_penalty, its own seeded generator) and streams through its own sink. The events of the
asyncio API are handed to each event loop once per step (one wake-up carrying every stream's token),
not once per token and stream: a wake-up is a write to the loop's self-pipe, and on a busy machine
each one costs the engine thread a wait for the GIL. Models whose cache
cannot be spliced this way (sliding-window or recurrent caches, multimodal templates, attention
kernels without 4D masks), and beam search, fall back to ``model.generate`` on static batches.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import threading
import time
import uuid
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import torch

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
)
from swiftk_infer.common import _UNKNOWN_CONTEXT, Params, TemplateEngine, served_name
from swiftk_infer.sampling import TokenText, apply_repetition_penalty, sample_token, token_logprobs

logger = logging.getLogger("swiftk.infer")

#: Concurrent sequences when ``--max_batch_size`` is not given: enough for a server to batch.
DEFAULT_MAX_BATCH_SIZE = 32
#: Padded prompt tokens prefilled in one step at most (more joiners wait for the next step).
PREFILL_TOKEN_BUDGET = 8192
#: Prompts whose keys and values are kept, so that a later prompt that starts the same way (a chat
#: template's system prompt, a shared instruction) prefills only the rest; and the memory they may
#: take together (``SWIFTK_PT_PREFIX_CACHE_MB``, default 256; 0 turns the prefix cache off).
PREFIX_CACHE_ENTRIES = 8
PREFIX_CACHE_BYTES = int(os.environ.get("SWIFTK_PT_PREFIX_CACHE_MB", "256")) * 2**20


def load_adapters(model: Any, adapters: list[str], merge: bool = False, args: Any = None) -> Any:
    """Apply saved tuner checkpoints on top of ``model``, each with the tuner that saved it (its
    ``swiftk_tuner.json`` or ``args.json`` names the train_type; a bare peft folder is peft's); merge
    them if asked."""
    from swiftk.api import apply_adapters

    return apply_adapters(model, list(adapters), args, merge=merge)


def split_adapters(adapters: list[str]) -> tuple[list[str], dict[str, str]]:
    """``--adapters``: plain paths (applied to the model) and ``name=path`` entries (served by name)."""
    plain: list[str] = []
    named: dict[str, str] = {}
    for item in adapters or []:
        name, sep, path = str(item).partition("=")
        if sep and name and "/" not in name and not os.path.exists(item):
            named[name] = path
        else:
            plain.append(item)
    return plain, named


def load_named_adapters(model: Any, named: dict[str, str]) -> Any:
    """Load each ``name=path`` LoRA under its name, for mixed batches (peft's ``adapter_names``)."""
    from swiftk.api import UsageError

    for name, path in named.items():
        config_path = os.path.join(path, "adapter_config.json")
        if not os.path.isfile(config_path):
            raise UsageError(f"--adapters {name}={path}: {path} has no adapter_config.json")
        import json

        with open(config_path, encoding="utf-8") as f:
            peft_type = json.load(f).get("peft_type")
        if peft_type != "LORA":
            raise UsageError(
                f"--adapters {name}={path}: serving adapters by name needs LoRA adapters "
                f"(this one is {peft_type}); pass it without a name to apply it to the model"
            )
        if hasattr(model, "load_adapter") and hasattr(model, "peft_config"):
            model.load_adapter(path, adapter_name=name)
        else:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, path, adapter_name=name)
    return model


class _Seq:
    """One running sequence: a choice of one request."""

    __slots__ = (
        "job",
        "index",
        "prompt",
        "params",
        "generator",
        "adapter",
        "tokens",
        "logprobs",
        "text",
        "emitted",
        "detok",
        "seen",
        "plain",
        "done",
        "reason",
        "cancelled",
        "last_token",
        "sent_logprobs",
        "stop_token",
    )

    def __init__(
        self,
        job: "_Job",
        index: int,
        prompt: list[int],
        params: Params,
        adapter: Optional[str],
        generator: Optional[torch.Generator],
    ):
        self.job = job
        self.index = index
        self.prompt = prompt
        self.params = params
        self.generator = generator
        self.adapter = adapter
        self.tokens: list[int] = []
        self.logprobs: list[dict] = []
        self.text = ""
        self.emitted = 0
        self.detok: Optional[TokenText] = None
        self.seen: Optional[torch.Tensor] = None
        self.plain = params.temperature == 0 and params.repetition_penalty == 1 and not params.logprobs
        self.done = False
        self.reason: Optional[str] = None
        self.cancelled = False
        self.last_token = 0
        self.sent_logprobs = 0
        self.stop_token: Optional[int] = None  # the end-of-sequence token it stopped on

    def token_ids(self) -> list[int]:
        """The generated tokens, with the end-of-sequence token it stopped on."""
        return self.tokens + ([self.stop_token] if self.stop_token is not None else [])

    def unsent_logprobs(self) -> Optional[list]:
        """The logprobs of the tokens not streamed yet (None when logprobs were not asked for)."""
        if not self.params.logprobs:
            return None
        out, self.sent_logprobs = self.logprobs[self.sent_logprobs :], len(self.logprobs)
        return out


class _Job:
    """A request in the engine: its sequences (``n`` choices) and where its events go.

    ``sink(seq, delta, logprobs, finished)`` is called from the engine thread: for every token of a
    streamed job, only at the end otherwise; ``sink(None, exc, None, True)`` reports a failure.
    """

    __slots__ = ("seqs", "prompt_len", "stream", "sink", "id", "created", "remaining")

    def __init__(self, prompt_len: int, stream: bool, sink: Callable[..., None]):
        self.seqs: list[_Seq] = []
        self.prompt_len = prompt_len
        self.stream = stream
        self.sink = sink
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.remaining = 0

    def cancel(self) -> None:
        for seq in self.seqs:
            seq.cancelled = True


class PtEngine(TemplateEngine):
    """Continues conversations with a transformers model; concurrent requests share decoding steps."""

    def __init__(
        self,
        model: Any,
        processor: Any,
        template: Any,
        *,
        model_name: str = "model",
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        defaults: Optional[RequestConfig] = None,
        adapter_names: tuple[str, ...] = (),
        max_model_len: Optional[int] = None,
        seed: int = 42,
        continuous: Optional[bool] = None,
        mixed_steps: bool = True,
    ):
        self.model = model.eval()
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.template = template
        self.model_name = model_name
        self.max_batch_size = max(1, int(max_batch_size or 1))
        self.defaults = defaults or RequestConfig()
        self.adapter_names = tuple(adapter_names)
        self.max_model_len = max_model_len or _model_len(model)
        self._lock = threading.RLock()  # the model: the decode loop, or a static generate
        self._rng = torch.Generator().manual_seed(int(seed))
        self._generation = getattr(model, "generation_config", None)
        self._eos = set(self._eos_ids())
        self._device = _device_of(model)
        self._dtype = _dtype_of(model)
        self._forward_kwargs, reason = self._probe_forward()
        if continuous is False or os.environ.get("SWIFTK_PT_STATIC", "").lower() in ("1", "true"):
            reason = reason or "static batching asked for"
        self.continuous = reason is None
        if not self.continuous:
            logger.info("pt engine: static batching with model.generate (%s)", reason)
        # decode-loop state, touched by the engine thread only
        self._rows: list[_Seq] = []
        self._cache: Any = None
        self._mask: Optional[torch.Tensor] = None  # [B, T] 1 = a real token in that cache column
        self._next_pos: Optional[torch.Tensor] = None  # [B] position of the token fed next
        self._pending: collections.deque = collections.deque()
        self._cv = threading.Condition()
        self._closed = False
        self._counters = {"prompt_tokens": 0, "generation_tokens": 0, "mixed_steps": 0}
        self._thread: Optional[threading.Thread] = None
        # (adapter, prompt tokens) -> per layer (keys, values) [1, heads, len, dim], least recently used first
        self._prefixes: collections.OrderedDict = collections.OrderedDict()
        self._prefix_bytes = 0
        self._outbox: dict[Any, list] = {}  # event loop -> calls to run there, handed over after each step
        # newcomers prefilled in the decoding step's own forward (mixed_step), where the model allows it
        self._mixed = False
        self._switched_attention: Optional[Any] = None  # the model whose attention this engine switched
        if self.continuous:
            why = self._enable_mixed_steps() if mixed_steps else "not asked for"
            if why:
                logger.info("pt engine: newcomers prefilled in a forward of their own (%s)", why)

    @classmethod
    def from_args(cls, args: Any) -> "PtEngine":
        from swiftk.api import get_template, load_model_and_processor

        model, processor, info = load_model_and_processor(args)
        plain, named = split_adapters(list(args.get("adapters") or []))
        if plain:
            model = load_adapters(model, plain, merge=bool(args.get("merge_lora")) or bool(named), args=args)
        if named:
            model = load_named_adapters(model, named)
        template = get_template(args, processor, info, mode="infer")
        name = served_name(args)
        explicit = getattr(args, "explicit", set()) or set()
        batch = args.get("max_batch_size") if "max_batch_size" in explicit else DEFAULT_MAX_BATCH_SIZE
        return cls(
            model,
            processor,
            template,
            model_name=name,
            max_batch_size=batch,
            defaults=RequestConfig.from_args(args),
            adapter_names=tuple(named),
            max_model_len=info.max_model_len,
            seed=args.get("seed") or 42,
        )

    # -- set-up -----------------------------------------------------------------------------------
    def _probe_forward(self) -> tuple[dict[str, Any], Optional[str]]:
        """The keyword names the model's forward takes, or why the decode loop cannot run it."""
        import inspect

        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        try:
            params = inspect.signature(base.forward).parameters
        except (TypeError, ValueError):
            return {}, "the model's forward has no inspectable signature"
        kwargs: dict[str, Any] = {}
        if "cache" in params:
            kwargs["cache_arg"] = "cache"
        elif "past_key_values" in params:
            kwargs["cache_arg"] = "past_key_values"
        else:
            return {}, "the model's forward takes no KV cache"
        if "position_ids" not in params:
            return {}, "the model's forward takes no position_ids"
        kwargs["logits_to_keep"] = "logits_to_keep" in params
        if getattr(self.template, "is_multimodal", False):
            return kwargs, "multimodal template"
        attn = getattr(getattr(base, "config", None), "_attn_implementation", None)
        if attn not in (None, "sdpa", "eager", "swiftk_mixed_step"):
            return kwargs, f"attention implementation {attn} takes no 4D mask"
        try:
            from transformers import DynamicCache
            from transformers.cache_utils import DynamicLayer

            cache = DynamicCache(config=base.config)
        except Exception as exc:  # exotic configs
            return kwargs, f"no DynamicCache for this model ({exc})"
        if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
            return kwargs, "the model's cache has sliding-window or recurrent layers"
        if self.adapter_names and not hasattr(self.model, "peft_config"):
            return kwargs, "named adapters need a peft model"
        return kwargs, None

    def _check_adapter(self, request: InferRequest) -> None:
        if request.adapter and request.adapter not in self.adapter_names:
            raise InferError(
                f"unknown adapter {request.adapter!r}; served: {', '.join(self.adapter_names) or 'none'}",
                "model",
                status=404,
                code="model_not_found",
            )

    def _submit(
        self,
        request: InferRequest,
        config: RequestConfig,
        *,
        stream: bool,
        strict: bool,
        sink: Callable[..., None],
        prompt: Optional[list[int]] = None,
    ) -> _Job:
        """Queue ``request`` for the decode loop (``prompt``: its tokens, when encoded already)."""
        self._check_adapter(request)
        if prompt is None:
            prompt = self._encode(request)
        params = self._params(config, len(prompt), strict)
        job = _Job(len(prompt), stream, sink)
        for index in range(config.n or 1):
            generator = None
            if params.seed is not None:
                generator = torch.Generator().manual_seed(int(params.seed) + index)
            seq = _Seq(job, index, prompt, params, request.adapter, generator)
            if stream or params.stop:
                seq.detok = TokenText(self.tokenizer, prompt[-4:])
            if params.repetition_penalty != 1:
                seq.seen = torch.tensor(sorted(set(prompt)) or [0], dtype=torch.long, device=self._device)
            job.seqs.append(seq)
        job.remaining = len(job.seqs)
        with self._cv:
            if self._closed:
                raise RuntimeError("the engine is closed")
            self._pending.extend(job.seqs)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="swiftk-pt-engine")
                self._thread.start()
            self._cv.notify()
        return job

    # -- the decode loop (engine thread) ---------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._pending and not self._rows and not self._closed:
                    self._cv.wait()
                if self._closed and not self._pending and not self._rows:
                    return
                joiners = self._admit()
            try:
                with self._lock, torch.inference_mode():
                    if joiners and self._rows and self._mixed:
                        self._mixed_step(joiners)  # one forward: the running rows' next tokens and the prompts
                    else:
                        if joiners:
                            self._prefill(joiners)
                            self._flush()  # their first tokens go out now, not after the next step
                        if self._rows:
                            self._decode()
            except Exception as exc:  # a failed forward fails the requests it carried, not the engine
                logger.exception("pt engine: generation failed")
                for seq in joiners + self._rows:
                    self._fail(seq, exc)
                self._reset()
            finally:
                self._flush()

    def _post(self, loop: Any, call: Callable[..., None], *args: Any) -> None:
        """Run ``call(*args)`` on the event loop ``loop`` after this step (engine thread only)."""
        calls = self._outbox.get(loop)
        if calls is None:
            calls = self._outbox[loop] = []
        calls.append((call, args))

    def _flush(self) -> None:
        """Hand each event loop the calls of this step at once: one wake-up per loop and step."""
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, {}
        for loop, calls in outbox.items():
            try:
                loop.call_soon_threadsafe(_run_calls, calls)
            except RuntimeError:  # the loop is closed: nobody waits for these events any more
                pass

    def _admit(self) -> list[_Seq]:
        room = self.max_batch_size - len(self._rows)
        joiners: list[_Seq] = []
        width = 0
        while self._pending and len(joiners) < room:
            seq = self._pending[0]
            if seq.cancelled:
                self._pending.popleft()
                self._finish(seq, "cancelled")
                continue
            wider = max(width, len(seq.prompt))
            if joiners and wider * (len(joiners) + 1) > PREFILL_TOKEN_BUDGET:
                break
            width = wider
            joiners.append(self._pending.popleft())
        return joiners

    def _forward(
        self,
        ids: torch.Tensor,
        mask4d: torch.Tensor,
        positions: torch.Tensor,
        cache: Any,
        adapters: Optional[list[str]],
    ) -> torch.Tensor:
        kwargs: dict[str, Any] = {self._forward_kwargs["cache_arg"]: cache}
        if self._forward_kwargs.get("logits_to_keep"):
            kwargs["logits_to_keep"] = 1
        if adapters is not None:
            kwargs["adapter_names"] = adapters
        out = self.model(input_ids=ids, attention_mask=mask4d, position_ids=positions, use_cache=True, **kwargs)
        return out.logits[:, -1, :]

    def _additive(self, allowed: torch.Tensor) -> torch.Tensor:
        """A boolean "may attend" mask as the additive float mask attention implementations take."""
        return (allowed.to(self._dtype) - 1) * torch.finfo(self._dtype).max

    def _grown(self, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The running rows' cache mask [B, T] with the column of the token fed now, and its 4D additive form."""
        grown = torch.cat([mask, mask.new_ones(mask.shape[0], 1)], 1)
        return grown, self._additive(grown.bool()[:, None, None, :])

    def _adapters(self, seqs: list[_Seq]) -> Optional[list[str]]:
        if not self.adapter_names:
            return None
        return [s.adapter or "__base__" for s in seqs]

    def _prefill(self, joiners: list[_Seq]) -> None:
        """Prefill the newcomers together, in a forward of their own."""
        ids, mask, allowed, positions, cache, _ = self._prefill_layout(joiners)
        logits = self._forward(ids, self._additive(allowed), positions, cache, self._adapters(joiners))
        self._join(joiners, cache, mask, logits)

    def _join(self, joiners: list[_Seq], cache: Any, mask: torch.Tensor, logits: torch.Tensor) -> None:
        """After the newcomers' prefill: keep their prompts' keys, sample their first tokens, add them to the batch."""
        self._counters["prompt_tokens"] += sum(len(s.prompt) for s in joiners)
        self._remember(joiners, cache, mask)
        tokens = self._sample(logits, joiners)
        self._merge(joiners, cache, mask, mask.sum(-1), tokens)

    def _prefill_layout(self, joiners: list[_Seq]) -> tuple:
        """The newcomers' prefill. Row j of the cache holds ``width - prefix_j`` masked columns, the
        ``prefix_j`` cached columns of its prompt, then its other prompt tokens, left-padded to ``width``
        (the longest rest): ``[0.. | prefix | 0.. | rest]``. Returns the ids [J, width], the cache columns'
        mask [J, prefix + width], the attention's "may attend" mask, the positions, the cache (seeded with
        the prefixes) and ``width``."""
        from transformers import DynamicCache

        found: dict[tuple[int, Optional[str]], tuple[int, Optional[list]]] = {}
        for seq in joiners:  # the n choices of a request share one prompt: look it up once
            key = (id(seq.prompt), seq.adapter)
            if key not in found:
                found[key] = self._cached_prefix(seq)
        hits = [found[(id(s.prompt), s.adapter)] for s in joiners]
        known = [n for n, _ in hits]
        prefix = max(known)
        width = max(len(s.prompt) - n for s, n in zip(joiners, known))
        pad = self._pad_id()
        ids, rows = [], []
        for seq, n in zip(joiners, known):
            rest = len(seq.prompt) - n
            ids.append([pad] * (width - rest) + seq.prompt[n:])
            rows.append([0] * (prefix - n) + [1] * n + [0] * (width - rest) + [1] * rest)
        ids = torch.tensor(ids, device=self._device)
        mask = torch.tensor(rows, device=self._device)
        # query i (column prefix + i) sees the columns up to its own
        causal = torch.ones(width, prefix + width, dtype=torch.bool, device=self._device).tril(prefix)
        allowed = causal[None, None, :, :] & mask[:, None, None, :].bool()
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, prefix:]
        # its layers are made as the model fills them (the same DynamicLayers, checked at set-up, as with the
        # model's config, without reading the config again at every step)
        cache = DynamicCache()
        if prefix:
            self._seed_cache(cache, hits, prefix)
        return ids, mask, allowed, positions, cache, width

    # -- mixed steps: the running rows' next tokens and the newcomers' prompts in one forward ---------------
    def _mixed_step(self, joiners: list[_Seq]) -> None:
        ids, mask, allowed, positions, cache, width = self._prefill_layout(joiners)
        logits = self._mixed_forward(ids, mask, allowed, positions, cache)
        self._counters["mixed_steps"] += 1
        rows = self._rows
        tokens = self._sample(logits[: len(rows)], rows)
        for seq, token in zip(rows, tokens):
            seq.last_token = token
        self._accept(rows, tokens)  # may drop finished rows; the newcomers join after
        self._join(joiners, cache, mask, logits[len(rows) :])

    def _mixed_forward(
        self, ids: torch.Tensor, mask: torch.Tensor, allowed: torch.Tensor, positions: torch.Tensor, cache: Any
    ) -> torch.Tensor:
        """Logits of the running rows' next tokens [B, vocab], then of the newcomers' first tokens [J, vocab];
        the running rows' mask and positions move on by the token they were fed."""
        from swiftk_infer.mixed_step import StepCache

        rows = self._rows
        b, (j, width) = len(rows), ids.shape
        running, additive = self._grown(self._mask)
        step = StepCache(self._cache, cache, b, j, width, additive, self._additive(allowed))
        flat_ids = torch.cat([torch.tensor([s.last_token for s in rows], device=self._device), ids.flatten()])
        flat_pos = torch.cat([self._next_pos, positions.flatten()])
        keep = torch.cat(
            [torch.arange(b, device=self._device), b + torch.arange(1, j + 1, device=self._device) * width - 1]
        )
        kwargs: dict[str, Any] = {self._forward_kwargs["cache_arg"]: step}
        if self._forward_kwargs.get("logits_to_keep"):
            kwargs["logits_to_keep"] = keep
        # a prepared 4D mask is passed through untouched by transformers' mask creation; the attention function
        # takes the two masks from the step itself
        out = self.model(
            input_ids=flat_ids[None],
            attention_mask=step.running_mask,
            position_ids=flat_pos[None],
            use_cache=True,
            **kwargs,
        )
        logits = out.logits[0] if self._forward_kwargs.get("logits_to_keep") else out.logits[0, keep]
        self._mask, self._next_pos = running, self._next_pos + 1
        return logits

    def _enable_mixed_steps(self) -> Optional[str]:
        """Switch the model to :mod:`swiftk_infer.mixed_step`'s attention if a probe step gives the logits of
        the separate prefill and decode; else say why not (and leave the model as it was)."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        config = getattr(base, "config", None)
        if self.adapter_names:
            return "per-request adapters need a row per sequence"
        from swiftk_infer.mixed_step import ATTENTION, register_attention

        attn = getattr(config, "_attn_implementation", None)
        if attn not in ("sdpa", ATTENTION) or not getattr(base, "_supports_attention_backend", False):
            return f"attention {attn} is not sdpa through AttentionInterface"
        if set(getattr(config, "layer_types", None) or ["full_attention"]) != {"full_attention"}:
            return "the model has other than full-attention layers"
        register_attention()
        if attn != ATTENTION:  # else another engine on this model switched it
            base.set_attn_implementation(ATTENTION)
            self._switched_attention = base
        try:
            with self._lock, torch.inference_mode():
                why = self._probe_mixed_step()
        except Exception as exc:  # a model whose layers use the cache in other ways
            why = f"the probe step failed ({type(exc).__name__}: {exc})"
        finally:
            self._reset()
        if why:
            self._restore_attention()
            return why
        self._mixed = True
        return None

    def _restore_attention(self) -> None:
        """The model's sdpa again, if this engine switched it (at close: the model may go on training)."""
        if self._switched_attention is not None:
            self._switched_attention.set_attn_implementation("sdpa")
            self._switched_attention = None

    def _probe_mixed_step(self) -> Optional[str]:
        """Two running sequences and two newcomers: the mixed step's logits against separate forwards."""
        from swiftk_infer.kv_slab import running_cache

        vocab = int(getattr(self.model.config, "vocab_size", 0) or 0) or 100
        prompts = [[(7 * i + 3) % vocab for i in range(n)] for n in (3, 5, 4, 6)]
        params = Params(temperature=0, repetition_penalty=1, logprobs=False)
        seqs = [_Seq(_Job(len(p), False, lambda *a: None), 0, p, params, None, None) for p in prompts]
        ids, mask, allowed, positions, cache, _ = self._prefill_layout(seqs[:2])
        first = self._forward(ids, self._additive(allowed), positions, cache, None).argmax(-1).tolist()
        cache = running_cache(cache)  # the running rows' cache as in serving
        self._rows, self._cache, self._mask, self._next_pos = seqs[:2], cache, mask, mask.sum(-1)
        for seq, token in zip(seqs[:2], first):
            seq.last_token = token
        # the separate forwards on the same inputs: prefill the two newcomers, decode the two running
        ids2, _, allowed2, positions2, cache2, _ = self._prefill_layout(seqs[2:])
        prefilled = self._forward(ids2, self._additive(allowed2), positions2, cache2, None)
        saved = [(layer.keys, layer.values) for layer in cache.layers]
        decoded = self._forward(
            torch.tensor([[t] for t in first], device=self._device),
            self._grown(mask)[1],
            self._next_pos[:, None],
            cache,
            None,
        )
        for layer, (k, v) in zip(cache.layers, saved):  # undo the decode's cache append (the slab adopts them)
            layer.keys, layer.values = k, v
        ids3, mask3, allowed3, positions3, cache3, _ = self._prefill_layout(seqs[2:])
        mixed = self._mixed_forward(ids3, mask3, allowed3, positions3, cache3)
        expected = torch.cat([decoded, prefilled])
        tolerance = 1e-4 if expected.dtype == torch.float32 else 5e-2
        if mixed.shape != expected.shape or not torch.allclose(
            mixed.float(), expected.float(), atol=tolerance, rtol=tolerance
        ):
            return "the probe step's logits differ from separate forwards"
        return None

    # -- the prefix cache (engine thread) ---------------------------------------------------------
    def _cached_prefix(self, seq: _Seq) -> tuple[int, Optional[list]]:
        """The longest kept prefix of ``seq``'s prompt, leaving at least one token to feed: its length
        and its per-layer (keys, values); (0, None) without one."""
        prompt, limit = tuple(seq.prompt), len(seq.prompt) - 1
        best, best_key = 0, None
        for key in self._prefixes:
            adapter, tokens = key
            n = min(limit, len(tokens))
            if adapter != seq.adapter or n <= best:
                continue
            if tokens[:n] == prompt[:n]:
                same = n
            else:
                same = next(i for i in range(n) if tokens[i] != prompt[i])
            if same > best:
                best, best_key = same, key
        if not best:
            return 0, None
        self._prefixes.move_to_end(best_key)
        return best, [(k[:, :, :best], v[:, :, :best]) for k, v in self._prefixes[best_key]]

    def _seed_cache(self, cache: Any, hits: list[tuple[int, Optional[list]]], width: int) -> None:
        """Fill a new cache with each row's cached prefix, right-aligned in ``width`` columns."""
        from transformers.cache_utils import DynamicLayer

        reference = next(kv for n, kv in hits if n)
        for i in range(len(reference)):
            layer = DynamicLayer()
            cache.layers.append(layer)
            parts: list[list[torch.Tensor]] = [[], []]
            for n, kv in hits:
                for j in (0, 1):
                    if n:
                        parts[j].append(_left_pad(kv[i][j], width - n, 2))
                    else:
                        shape = reference[i][j].shape
                        parts[j].append(reference[i][j].new_zeros(1, shape[1], width, shape[3]))
            keys, values = torch.cat(parts[0], 0), torch.cat(parts[1], 0)
            layer.lazy_initialization(keys, values)
            layer.keys, layer.values = keys, values

    def _remember(self, joiners: list[_Seq], cache: Any, mask: torch.Tensor) -> None:
        """Keep the keys and values of the newcomers' prompts (their unmasked columns, in order)."""
        if PREFIX_CACHE_BYTES <= 0:
            return
        for row, seq in enumerate(joiners):
            key = (seq.adapter, tuple(seq.prompt))
            if key in self._prefixes:
                self._prefixes.move_to_end(key)
                continue
            columns = mask[row].nonzero().squeeze(1)
            kept = [
                (
                    layer.keys[row : row + 1].index_select(2, columns),
                    layer.values[row : row + 1].index_select(2, columns),
                )
                for layer in cache.layers
            ]
            size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kept)
            if size > PREFIX_CACHE_BYTES:
                continue
            self._prefixes[key] = kept
            self._prefix_bytes += size
            while len(self._prefixes) > PREFIX_CACHE_ENTRIES or self._prefix_bytes > PREFIX_CACHE_BYTES:
                _, dropped = self._prefixes.popitem(last=False)
                self._prefix_bytes -= sum(
                    k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in dropped
                )

    def _merge(
        self, joiners: list[_Seq], cache: Any, mask: torch.Tensor, next_pos: torch.Tensor, tokens: list[int]
    ) -> None:
        """Add prefilled sequences (their cache rows) to the running batch, left-padding the narrower."""
        for seq, token in zip(joiners, tokens):
            seq.last_token = token
        if not self._rows:
            from swiftk_infer.kv_slab import running_cache

            self._rows, self._cache, self._mask, self._next_pos = list(joiners), running_cache(cache), mask, next_pos
        else:
            old, new = self._mask.shape[1], mask.shape[1]
            width = max(old, new)
            for mine, theirs in zip(self._cache.layers, cache.layers):
                mine.add_rows(theirs.keys, theirs.values, width)
            self._mask = torch.cat([_left_pad(self._mask, width - old, 1), _left_pad(mask, width - new, 1)], 0)
            self._next_pos = torch.cat([self._next_pos, next_pos], 0)
            self._rows.extend(joiners)
        self._accept(joiners, tokens)

    def _decode(self) -> None:
        rows = self._rows
        ids = torch.tensor([[s.last_token] for s in rows], device=self._device)
        mask, additive = self._grown(self._mask)
        logits = self._forward(ids, additive, self._next_pos[:, None], self._cache, self._adapters(rows))
        self._mask = mask
        self._next_pos = self._next_pos + 1
        tokens = self._sample(logits, rows)
        for seq, token in zip(rows, tokens):
            seq.last_token = token
        self._accept(rows, tokens)

    def _sample(self, logits: torch.Tensor, seqs: list[_Seq]) -> list[int]:
        """One token per sequence. A row that gives no valid distribution (non-finite logits from the model, or
        sampling settings that make them so) fails its own request only: the others of the step go on."""
        logits = logits.float()
        greedy = logits.argmax(-1).tolist()
        finite = torch.isfinite(logits).all(-1)
        if not bool(finite.all()):
            for i in (~finite).nonzero().flatten().tolist():
                self._fail(
                    seqs[i],
                    InferError(
                        "the model gave non-finite logits for this request", status=500, code="non_finite_logits"
                    ),
                )
        if all(s.plain or s.done for s in seqs):
            return greedy
        tokens = []
        for i, seq in enumerate(seqs):
            if seq.plain or seq.done:
                tokens.append(greedy[i])
                continue
            p = seq.params
            row = logits[i]
            if p.repetition_penalty != 1:
                row = apply_repetition_penalty(row, seq.seen, p.repetition_penalty)
            if p.temperature == 0:
                token = greedy[i] if p.repetition_penalty == 1 else int(row.argmax())
            else:
                try:
                    token = sample_token(row, p.temperature, p.top_k, p.top_p, seq.generator or self._rng)
                except ValueError as exc:
                    self._fail(
                        seq,
                        InferError(
                            f"{exc}: temperature {p.temperature}, top_k {p.top_k}, top_p "
                            f"{p.top_p}, repetition_penalty {p.repetition_penalty}"
                        ),
                    )
                    tokens.append(greedy[i])
                    continue
            if p.logprobs and (token not in self._eos or p.ignore_eos):
                seq.logprobs.append(token_logprobs(self.tokenizer, logits[i], token, p.top_logprobs))
            tokens.append(token)
        return tokens

    def _accept(self, seqs: list[_Seq], tokens: list[int]) -> None:
        """Book one new token per sequence: stop conditions, text, events; then drop finished rows."""
        self._counters["generation_tokens"] += len(seqs)
        context = self.max_model_len or _UNKNOWN_CONTEXT
        for seq, token in zip(seqs, tokens):
            if seq.done:
                continue
            if seq.cancelled:
                self._finish(seq, "cancelled")
                continue
            p = seq.params
            if token in self._eos and not p.ignore_eos:
                seq.stop_token = token
                self._finish(seq, "stop")
                continue
            seq.tokens.append(token)
            if seq.seen is not None:
                seq.seen = torch.cat([seq.seen, seq.seen.new_tensor([token])])
            reason = None
            if seq.detok is not None:
                delta = seq.detok.add(token)
                if delta:
                    start = len(seq.text)
                    seq.text += delta
                    for word in p.stop:
                        at = seq.text.find(word, max(0, start - len(word) + 1))
                        if at >= 0:
                            seq.text = seq.text[: at + len(word)]
                            reason = "stop"
                            break
            if reason is None and (len(seq.tokens) >= p.max_tokens or len(seq.prompt) + len(seq.tokens) >= context):
                reason = "length"
            if reason:
                self._finish(seq, reason)
            elif seq.job.stream and (len(seq.text) > seq.emitted or p.logprobs):
                delta, seq.emitted = seq.text[seq.emitted :], len(seq.text)
                seq.job.sink(seq, delta, seq.unsent_logprobs(), False)
        if any(s.done for s in self._rows):
            self._compact()

    def _finish(self, seq: _Seq, reason: str) -> None:
        if seq.done:
            return
        seq.done = True
        seq.reason = reason
        if seq.detok is None:
            seq.text = self.tokenizer.decode(seq.tokens, skip_special_tokens=False)
        if seq.job.stream:
            delta, seq.emitted = seq.text[seq.emitted :], len(seq.text)
            seq.job.sink(seq, delta, seq.unsent_logprobs(), True)
        else:
            seq.job.sink(seq, None, None, True)

    def _fail(self, seq: _Seq, exc: BaseException) -> None:
        if not seq.done:
            seq.done = True
            seq.reason = "error"
            seq.job.sink(None, exc, None, True)

    def _compact(self) -> None:
        from swiftk_infer.kv_slab import compaction

        order, moves = compaction([s.done for s in self._rows])
        if not order:
            self._reset()
            return
        index = torch.tensor(order, device=self._device)
        mask = self._mask.index_select(0, index)
        used = mask.any(0)
        first = int(used.int().argmax()) if bool(used.any()) else 0
        dst, src = (torch.tensor(list(side), device=self._device) for side in zip(*moves)) if moves else (None, None)
        for layer in self._cache.layers:
            layer.keep_rows(dst, src, len(order), first)
        self._mask = mask[:, first:]
        self._next_pos = self._next_pos.index_select(0, index)
        self._rows = [self._rows[i] for i in order]

    def _reset(self) -> None:
        self._rows, self._cache, self._mask, self._next_pos = [], None, None, None

    # -- responses --------------------------------------------------------------------------------
    def _response(self, job: _Job, model: Optional[str] = None) -> ChatCompletionResponse:
        choices = []
        for seq in job.seqs:
            logprobs = {"content": seq.logprobs[: len(seq.tokens)]} if seq.params.logprobs else None
            reason = "stop" if seq.reason == "cancelled" else seq.reason
            choices.append(
                Choice(
                    seq.index, {"role": "assistant", "content": seq.text}, reason, logprobs, token_ids=seq.token_ids()
                )
            )
        completion = sum(len(s.tokens) for s in job.seqs)
        return ChatCompletionResponse(
            model or self.model_name,
            choices,
            Usage(job.prompt_len, completion, job.prompt_len + completion),
            id=job.id,
            created=job.created,
            prompt_token_ids=list(job.seqs[0].prompt),
        )

    def _chunk(
        self, job: _Job, seq: _Seq, delta: str, logprobs: Optional[list], finished: bool, model: Optional[str]
    ) -> ChatCompletionStreamResponse:
        message = {"role": "assistant", "content": delta} if delta or not finished else {}
        usage = None
        if finished and job.remaining == 0:
            completion = sum(len(s.tokens) for s in job.seqs)
            usage = Usage(job.prompt_len, completion, job.prompt_len + completion)
        reason = ("stop" if seq.reason == "cancelled" else seq.reason) if finished else None
        choice = StreamChoice(seq.index, message, reason, {"content": logprobs} if logprobs else None)
        return ChatCompletionStreamResponse(model or self.model_name, [choice], job.id, usage, created=job.created)

    # -- the public API ----------------------------------------------------------------------------
    def infer(
        self, requests: list[InferRequest], config: Optional[RequestConfig] = None, *, use_tqdm: bool = False
    ) -> list[ChatCompletionResponse]:
        merged = self._merged(config)
        if not self.continuous or (merged.num_beams or 1) > 1:
            return self._static_infer(requests, merged, use_tqdm)
        events: queue.SimpleQueue = queue.SimpleQueue()
        jobs = []
        try:
            for request in requests:
                jobs.append(
                    self._submit(
                        request,
                        merged,
                        stream=False,
                        strict=False,
                        sink=lambda seq, delta, lp, fin: events.put((seq, delta)),
                    )
                )
            left = sum(len(j.seqs) for j in jobs)
            bar = None
            if use_tqdm:
                from tqdm import tqdm

                bar = tqdm(total=len(jobs), desc="infer", unit="request")
            while left:
                seq, error = events.get()
                left -= 1
                if seq is None:
                    raise error
                seq.job.remaining -= 1
                if bar is not None and seq.job.remaining == 0:
                    bar.update(1)
            if bar is not None:
                bar.close()
        except BaseException:
            for job in jobs:
                job.cancel()
            raise
        return [self._response(job) for job in jobs]

    def infer_stream(
        self, request: InferRequest, config: Optional[RequestConfig] = None
    ) -> Iterator[ChatCompletionStreamResponse]:
        merged = self._merged(config)
        if not self.continuous or (merged.num_beams or 1) > 1:
            yield from self._static_stream(request, merged)
            return
        events: queue.SimpleQueue = queue.SimpleQueue()
        job = self._submit(request, merged, stream=True, strict=False, sink=lambda *event: events.put(event))
        try:
            yield from self._drain(job, events.get, None)
        finally:
            job.cancel()

    def _drain(self, job: _Job, get: Callable[[], Any], model: Optional[str]) -> Iterator[Any]:
        while job.remaining:
            seq, delta, logprobs, finished = get()
            if seq is None:
                raise delta
            if finished:
                job.remaining -= 1
            yield self._chunk(job, seq, delta or "", logprobs, finished, model)

    async def infer_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> ChatCompletionResponse:
        import asyncio

        merged = self._merged(config)
        if not self.continuous or (merged.num_beams or 1) > 1:
            return (await asyncio.to_thread(self._static_infer, [request], merged, False))[0]
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def sink(seq: Optional[_Seq], delta: Any, logprobs: Any, finished: bool) -> None:
            self._post(loop, _settle, done, seq, delta)

        self._check_adapter(request)
        prompt = await self._encode_async(request)
        job = self._submit(request, merged, stream=False, strict=strict, sink=sink, prompt=prompt)
        try:
            await done
        except BaseException:
            job.cancel()
            raise
        return self._response(job)

    async def infer_stream_async(
        self, request: InferRequest, config: Optional[RequestConfig] = None, *, strict: bool = True
    ) -> AsyncIterator[ChatCompletionStreamResponse]:
        import asyncio

        merged = self._merged(config)
        if not self.continuous or (merged.num_beams or 1) > 1:
            async for chunk in InferEngine.infer_stream_async(self, request, merged):
                yield chunk
            return
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        self._check_adapter(request)
        prompt = await self._encode_async(request)
        job = self._submit(
            request,
            merged,
            stream=True,
            strict=strict,
            sink=lambda *event: self._post(loop, events.put_nowait, event),
            prompt=prompt,
        )
        try:
            while job.remaining:
                seq, delta, logprobs, finished = await events.get()
                if seq is None:
                    raise delta
                if finished:
                    job.remaining -= 1
                yield self._chunk(job, seq, delta or "", logprobs, finished, None)
        finally:
            job.cancel()

    def stats(self) -> dict[str, Any]:
        return {**self._counters, "running": len(self._rows), "waiting": len(self._pending)}

    def weights_changed(self) -> None:
        with self._lock:  # not while a step runs: the engine thread holds the lock for each step
            self._prefixes.clear()
            self._prefix_bytes = 0

    def close(self) -> None:
        with self._cv:
            self._closed = True
            for seq in list(self._pending):
                seq.cancelled = True
            self._cv.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        with self._lock:
            self._restore_attention()

    # -- static batches with model.generate (fallback, beam search) -------------------------------
    def _generation_kwargs(self, config: RequestConfig, max_new_tokens: int) -> dict[str, Any]:
        params = self._params(config, 0, strict=False)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=max_new_tokens,
            do_sample=params.temperature > 0,
            num_beams=config.num_beams or 1,
            num_return_sequences=config.n or 1,
            pad_token_id=self._pad_id(),
            eos_token_id=self._eos_ids(),
        )
        if params.temperature > 0:
            kwargs.update(temperature=params.temperature, top_k=params.top_k or None, top_p=params.top_p)
        if params.repetition_penalty != 1:
            kwargs["repetition_penalty"] = params.repetition_penalty
        if config.ignore_eos:
            kwargs["min_new_tokens"] = max_new_tokens
        if params.stop:
            kwargs.update(stop_strings=sorted(set(params.stop)), tokenizer=self.tokenizer)
        if config.logprobs:
            kwargs.update(output_logits=True, return_dict_in_generate=True)
        return kwargs

    def _static_infer(
        self, requests: list[InferRequest], config: RequestConfig, use_tqdm: bool
    ) -> list[ChatCompletionResponse]:
        responses: list[ChatCompletionResponse] = []
        starts = range(0, len(requests), self.max_batch_size)
        if use_tqdm:
            from tqdm import tqdm

            starts = tqdm(starts, desc="infer", unit="batch")
        for start in starts:
            batch = requests[start : start + self.max_batch_size]
            media = None
            if getattr(self.template, "is_multimodal", False):  # the template's processor adds the pixel inputs
                encoded = [self._encode_full(r) for r in batch]
                prompts = [list(e["input_ids"]) for e in encoded]
                media = self.template.data_collator(encoded)
                media = {k: v.to(self._device) for k, v in media.items() if k not in ("input_ids", "attention_mask")}
            else:
                prompts = [self._encode(r) for r in batch]
            width = max(len(p) for p in prompts)
            room = (self.max_model_len or _UNKNOWN_CONTEXT) - width
            if room < 1:
                raise InferError(
                    f"the prompt is longer than the model's context of {self.max_model_len} tokens",
                    "messages",
                    code="context_length_exceeded",
                )
            max_new = min(config.max_tokens or room, room)
            kwargs = self._generation_kwargs(config, max_new)
            pad = self._pad_id()
            ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self._device)
            mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self._device)
            with self._lock, torch.no_grad():
                if config.seed is not None:
                    torch.manual_seed(config.seed)
                out = self.model.generate(input_ids=ids, attention_mask=mask, **(media or {}), **kwargs)
            sequences = out.sequences if hasattr(out, "sequences") else out
            generated = sequences[:, width:].tolist()
            n = config.n or 1
            for i, prompt in enumerate(prompts):
                choices, completion_tokens = [], 0
                for j in range(n):
                    row = i * n + j
                    tokens, reason = self._cut(generated[row], max_new)
                    stopped_on = generated[row][len(tokens) : len(tokens) + 1]
                    completion_tokens += len(tokens)
                    logprobs = None
                    if config.logprobs:
                        logprobs = {
                            "content": [
                                token_logprobs(self.tokenizer, out.logits[step][row], t, config.top_logprobs or 0)
                                for step, t in enumerate(tokens)
                            ]
                        }
                    text = self.tokenizer.decode(tokens, skip_special_tokens=False)
                    choices.append(
                        Choice(
                            j,
                            {"role": "assistant", "content": text},
                            reason,
                            logprobs,
                            token_ids=tokens + [t for t in stopped_on if t in self._eos],
                        )
                    )
                responses.append(
                    ChatCompletionResponse(
                        self.model_name,
                        choices,
                        Usage(len(prompt), completion_tokens, len(prompt) + completion_tokens),
                        prompt_token_ids=list(prompt),
                    )
                )
        return responses

    def _cut(self, tokens: list[int], max_tokens: int) -> tuple[list[int], str]:
        """Drop eos/pad at the end; stop words stay in the text."""
        eos = self._eos | {self._pad_id()}
        cut = next((i for i, t in enumerate(tokens) if t in eos), len(tokens))
        reason = "stop" if cut < len(tokens) or len(tokens) < max_tokens else "length"
        return tokens[:cut], reason

    def _static_stream(self, request: InferRequest, config: RequestConfig) -> Iterator[ChatCompletionStreamResponse]:
        response = self._static_infer([request], config, False)[0]
        chunk_id = response.id
        for choice in response.choices:
            yield ChatCompletionStreamResponse(self.model_name, [StreamChoice(choice.index, choice.message)], chunk_id)
        last = response.choices[-1]
        yield ChatCompletionStreamResponse(
            self.model_name, [StreamChoice(last.index, {}, last.finish_reason)], chunk_id, response.usage
        )


def _left_pad(tensor: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    """``tensor`` with ``n`` zero columns before dimension ``dim``'s; itself, uncopied, when ``n`` is 0."""
    if not n:
        return tensor
    import torch.nn.functional as F

    return F.pad(tensor, (0, 0) * (tensor.dim() - 1 - dim) + (n, 0))


def _run_calls(calls: list) -> None:
    for call, args in calls:
        try:
            call(*args)
        except Exception:  # one consumer's failure must not lose the others' events
            logger.exception("pt engine: delivering an event failed")


def _settle(future: Any, seq: Optional[_Seq], error: Any) -> None:
    if future.done():
        return
    if seq is None:
        future.set_exception(error)
        return
    seq.job.remaining -= 1
    if seq.job.remaining == 0:
        future.set_result(None)


def _model_len(model: Any) -> Optional[int]:
    config = getattr(model, "config", None)
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _device_of(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def _dtype_of(model: Any) -> torch.dtype:
    try:
        dtype = next(model.parameters()).dtype
    except StopIteration:
        return torch.float32
    return dtype if dtype.is_floating_point else torch.float32
