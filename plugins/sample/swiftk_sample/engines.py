"""The ``--sampler_engine``: a local engine (pt, vllm, lmdeploy, built as ``swiftk infer`` builds it), a
``client`` of an OpenAI-compatible server, or ``no`` (score ``--cache_files`` only).

``--engine_kwargs`` are the engine's own ``swiftk infer`` arguments, set as if given on the command line.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from swiftk.api import InferError, InferRequest, UsageError

#: --sampler_engine -> what --engine_kwargs may set: the page's arguments of that engine
ENGINE_KEYS: dict[str, frozenset] = {
    "pt": frozenset({"max_batch_size"}),
    "vllm": frozenset(
        "gpu_memory_utilization tensor_parallel_size pipeline_parallel_size max_num_seqs max_model_len "
        "disable_custom_all_reduce enforce_eager limit_mm_per_prompt vllm_max_lora_rank enable_prefix_caching "
        "max_batch_size".split()
    ),
    "lmdeploy": frozenset("tp session_len cache_max_entry_count quant_policy vision_batch_size max_batch_size".split()),
    "client": frozenset({"base_url", "api_key", "timeout", "max_workers"}),
    "no": frozenset(),
}

#: ms-swift's MCTS continues an unfinished answer over a chat API with this user turn
CONTINUE_PROMPT = "Continue.\n"


def check_engine_kwargs(args: Any) -> dict[str, Any]:
    """``--engine_kwargs`` checked against what ``--sampler_engine`` takes."""
    kwargs = dict(args.get("engine_kwargs") or {})
    engine = args.sampler_engine
    unknown = sorted(set(kwargs) - ENGINE_KEYS[engine])
    if unknown:
        takes = ", ".join(sorted(ENGINE_KEYS[engine])) or "nothing: it builds no engine"
        raise UsageError(
            f"--engine_kwargs {', '.join(unknown)}: not an argument of --sampler_engine {engine} (it takes {takes})"
        )
    return kwargs


def build_engine(args: Any) -> Any:
    """The engine ``--sampler_engine`` names, or None for ``no``."""
    kwargs = check_engine_kwargs(args)
    engine = args.sampler_engine
    if engine == "no":
        return None
    if engine == "client":
        from swiftk_infer.client import InferClient

        model = args.get("model")
        key = kwargs.get("api_key", args.get("api_key"))
        if key in (None, "", "EMPTY"):  # ms-swift's default: no key of its own, then OPENAI_API_KEY
            key = os.environ.get("OPENAI_API_KEY") or None
        client = InferClient(
            kwargs.get("base_url") or args.base_url,
            key,
            model=model,
            timeout=float(kwargs.get("timeout") or 600),
            max_workers=int(kwargs.get("max_workers") or 16),
        )
        try:
            served = client.models()
        except (ConnectionError, OSError, InferError) as exc:
            raise UsageError(f"--sampler_engine client: {client.base_url} answered: {exc}") from None
        if model is None:
            client._model = served[0] if served else None
        elif model not in served:
            raise UsageError(
                f"--model {model}: {client.base_url} serves {', '.join(served) or 'no model'}; name one of them"
            )
        return client
    from swiftk.api import derived_args
    from swiftk_infer.command import build_engine as build_infer_engine

    explicit = set(args.explicit) | set(kwargs)
    engine_args = derived_args(args, infer_backend=engine, **kwargs)
    object.__setattr__(engine_args, "explicit", explicit)
    return build_infer_engine(engine_args)


def answer_continuation(engine: Any, system: Optional[str]) -> Callable[[dict, str], InferRequest]:
    """``continue_answer(row, partial)``: a request whose answer starts with ``partial``.

    A local engine's template renders the prompt, and ``partial`` follows the assistant prefix as raw text,
    so the model continues exactly its own words. A server only takes chat messages: the unfinished answer
    becomes an assistant turn followed by ms-swift's "Continue." user turn."""
    from swiftk_sample.records import prompt

    template = getattr(engine, "template", None)
    if template is not None and hasattr(template, "render"):

        def local(row: dict, partial: str) -> InferRequest:
            text = template.render({"messages": prompt(row, system)}, add_generation_prompt=True)
            return InferRequest([], prompt=text + partial)

        return local

    def chat(row: dict, partial: str) -> InferRequest:
        messages = prompt(row, system)
        if partial:
            messages += [{"role": "assistant", "content": partial}, {"role": "user", "content": CONTINUE_PROMPT}]
        return InferRequest(messages)

    return chat
