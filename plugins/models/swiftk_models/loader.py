"""Loading a resolved ``--model`` (the ``load_model`` hook): the loading arguments (``--torch_dtype``,
``--attn_impl``, ``--rope_scaling``, ``--device_map``, ``--max_memory``, ``--quant_method`` through the
registered quantizer, a classification head for ``task_type seq_cls``), ``--trust_remote_code``,
``--local_repo_path``, ``--check_model`` and ``--new_special_tokens`` (:mod:`swiftk_models.tokens`); then ``ModelMeta.get_function`` or the generic
transformers loader, with a fall-back to eager attention for models without sdpa.

torch and transformers load inside the functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from typing import Any, Iterator, Optional

from swiftk.api import UsageError, get_host, load_reference

logger = logging.getLogger("swiftk.model")

_DTYPES = ("float16", "bfloat16", "float32")


def load_model(args: Any, model_info: Any, load_weights: bool = True) -> tuple[Any, Any]:
    """``(model or None, tokenizer/processor)`` of the resolved model ``model_info``."""
    if load_weights and args.get("check_model", True):
        check_model_files(model_info.model_dir)
    quantizer = _quantizer(args)
    model_kwargs = _model_kwargs(args, model_info, quantizer)
    get_function = _get_function(model_info.model_meta)
    with _local_repo(args.get("local_repo_path")):
        try:
            model, processor = get_function(model_info.model_dir, model_info, model_kwargs, load_model=load_weights)
        except ValueError as exc:
            message = str(exc).lower()
            if model_kwargs.get("attn_implementation") != "sdpa" or (
                "sdpa" not in message and "scaled_dot_product" not in message
            ):
                raise
            logger.warning("%s does not support sdpa attention; falling back to eager", model_info.model_type)
            model_kwargs["attn_implementation"] = "eager"
            model, processor = get_function(model_info.model_dir, model_info, model_kwargs, load_model=load_weights)
    if args.get("new_special_tokens"):  # later ms-swift: added to the tokenizer, the embeddings grown (tokens.py)
        from swiftk_models.tokens import add_new_special_tokens

        add_new_special_tokens(model, processor, args.new_special_tokens, args)
    after_load = _quantize_step(quantizer, "after_load")
    if model is not None and after_load is not None:
        after_load(model, args, model_info.torch_dtype)
    return model, processor


def _get_function(meta: Any) -> Any:
    fn = getattr(meta, "get_function", None)
    return generic_get_function if fn is None else load_reference(fn)


def _device_map(value: Any) -> Any:
    import torch

    if value is None:
        if torch.cuda.is_available():
            if int(os.environ.get("WORLD_SIZE", "1")) > 1:
                return {"": f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"}
            return "auto"
        return "cpu"
    if isinstance(value, dict):
        return value
    text = str(value).strip()
    if text in ("auto", "cpu", "balanced", "balanced_low_0", "sequential", "mps") or text.startswith("cuda"):
        return text
    try:
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                parsed = json.load(f)
        else:
            parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise UsageError(f"--device_map must be auto, cpu, a JSON object or the path of a JSON file, got {value!r}")
    return parsed


def _max_memory(value: Any) -> Optional[dict]:
    if not value:
        return None
    if not isinstance(value, dict):
        raise UsageError(
            f"--max_memory must be a JSON object such as '{{\"0\": \"20GB\", \"cpu\": \"64GB\"}}', got {value!r}"
        )
    return {int(k) if str(k).isdigit() else k: v for k, v in value.items()}


def _attn_implementation(value: Optional[str]) -> Optional[str]:
    if value in (None, "sdpa", "eager"):
        return value
    if value == "flash_attn":
        import importlib.util

        import torch

        if not torch.cuda.is_available():
            raise UsageError("--attn_impl flash_attn needs a CUDA GPU; on CPU use sdpa (the default) or eager")
        if importlib.util.find_spec("flash_attn") is None:
            raise UsageError("--attn_impl flash_attn needs the flash-attn package: pip install flash-attn")
        return "flash_attention_2"
    if value == "flash_attention_3":  # later ms-swift: FlashAttention 3 (Hopper GPUs), transformers' own name
        import importlib.util

        import torch

        if not torch.cuda.is_available():
            raise UsageError("--attn_impl flash_attention_3 needs a CUDA GPU (Hopper); on CPU use sdpa or eager")
        if importlib.util.find_spec("flash_attn_interface") is None:
            raise UsageError(
                "--attn_impl flash_attention_3 needs FlashAttention 3 (the flash-attn-3 package, built from "
                "flash-attention's hopper/ folder); or use flash_attn (FlashAttention 2)"
            )
        return "flash_attention_3"
    raise UsageError(f"--attn_impl {value}: valid: flash_attn, flash_attention_3, sdpa, eager")


def _quantizer(args: Any) -> Any:
    """The registered quantizer of ``--quant_method`` (a :class:`swiftk.api.QuantizerSpec`), or None."""
    method = args.get("quant_method")
    if not method:
        return None
    host = get_host()
    quantizer = host.get("quantizers", method)  # not registered: the registry names what to install
    if getattr(quantizer, "load_config", None) is None and getattr(quantizer, "after_load", None) is None:
        raise UsageError(
            f"--quant_method {method}: plugin '{host.registry('quantizers').entry(method).plugin}' registered it "
            f"for `swiftk export` only; it cannot quantize a model as it loads"
        )
    return quantizer


def _quantize_step(quantizer: Any, step: str) -> Any:
    fn = getattr(quantizer, step, None) if quantizer is not None else None
    return None if fn is None else load_reference(fn)


def _set_rope(config: Any, rope: dict) -> None:
    params = getattr(config, "rope_parameters", None)
    if isinstance(params, dict):
        config.rope_parameters = {**params, **rope}
    else:
        config.rope_scaling = {"type": rope["rope_type"], **rope}


def check_model_files(model_dir: str) -> None:
    """``--check_model``: the weight files the folder names are there (a cheap local check)."""
    names = os.listdir(model_dir)
    for index in [n for n in names if n.endswith(".index.json")]:
        with open(os.path.join(model_dir, index), encoding="utf-8") as f:
            shards = set((json.load(f).get("weight_map") or {}).values())
        missing = sorted(s for s in shards if not os.path.isfile(os.path.join(model_dir, s)))
        if missing:
            raise UsageError(
                f"--model {model_dir}: {index} names weight files that are missing: "
                f"{', '.join(missing[:5])}; re-download the model (or --check_model false)"
            )
    if not any(n.endswith((".safetensors", ".bin", ".pt", ".pth", ".gguf")) for n in names):
        raise UsageError(
            f"--model {model_dir}: no weight files (*.safetensors, *.bin) in the folder; "
            f"--check_model false skips this check"
        )


@contextlib.contextmanager
def _local_repo(path: Optional[str]) -> Iterator[None]:
    """``--local_repo_path``: a clone some models import their code from, on sys.path while loading."""
    if not path:
        yield
        return
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(path):
        raise UsageError(f"--local_repo_path {path}: no such folder")
    sys.path.insert(0, path)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(path)


def generic_get_function(
    model_dir: str, model_info: Any, model_kwargs: dict, load_model: bool = True, **kwargs: Any
) -> tuple[Any, Any]:
    """The loader of every ``ModelMeta`` without ``get_function``: AutoTokenizer + AutoModelForCausalLM
    (or AutoModelForSequenceClassification for ``task_type seq_cls``)."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    trust = bool(model_kwargs.get("trust_remote_code"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust)
    if not load_model:
        return None, tokenizer
    cls = AutoModelForSequenceClassification if model_info.task_type == "seq_cls" else AutoModelForCausalLM
    return cls.from_pretrained(model_dir, **model_kwargs), tokenizer


def _model_kwargs(args: Any, info: Any, quantizer: Any) -> dict:
    import torch

    if info.torch_dtype not in _DTYPES:
        raise UsageError(f"--torch_dtype {info.torch_dtype}: valid: {', '.join(_DTYPES)}")
    trust = check_remote_code(args, info)
    kwargs: dict = {
        "dtype": getattr(torch, info.torch_dtype),
        "trust_remote_code": trust,
        "device_map": _device_map(args.get("device_map")),
    }
    memory = _max_memory(args.get("max_memory"))
    if memory:
        kwargs["max_memory"] = memory
    attn = _attn_implementation(args.get("attn_impl"))
    if attn:
        kwargs["attn_implementation"] = attn
    load_config = _quantize_step(quantizer, "load_config")
    quant_config = load_config(args, info.torch_dtype) if load_config else None
    if quant_config is not None:
        kwargs["quantization_config"] = quant_config
    if info.rope_scaling or info.task_type == "seq_cls":
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(info.model_dir, trust_remote_code=trust)
        if info.rope_scaling:
            _set_rope(config, info.rope_scaling)
        if info.task_type == "seq_cls":
            config.num_labels = info.num_labels or 2
            if getattr(info, "problem_type", None):
                config.problem_type = info.problem_type
        kwargs["config"] = config
    return kwargs


def _named_by_user(args: Any, model_dir: str) -> bool:
    """Whether the user named this model on the command line (as a folder, or as the hub id it came from)."""
    given = getattr(args, "given", None) or {}
    named = []
    for value in given.values():
        named.extend(value if isinstance(value, list) else [value])
    if args.get("model") in named:
        return True
    return any(
        isinstance(v, str)
        and os.path.isdir(os.path.expanduser(v))
        and os.path.abspath(os.path.expanduser(v)) == os.path.abspath(model_dir)
        for v in named
    )


def check_remote_code(args: Any, info: Any) -> bool:
    """Whether loading runs the model folder's own Python code (``auto_map``), allowed by
    ``--trust_remote_code`` (True unless given: ms-swift always trusts it).  Code from a folder that
    the user did not name (one an adapter's args.json named) is announced before it runs."""
    needs_code = "auto_map" in info.config or bool((info.model_meta.extra or {}).get("trust_remote_code"))
    if not needs_code:
        return False
    modules = sorted(
        {
            str(ref).split(".")[0] + ".py"
            for ref in (info.config.get("auto_map") or {}).values()
            if isinstance(ref, str) and "--" not in ref
        }
    )
    code = ", ".join(modules) or "its modelling code"
    if args.get("trust_remote_code") is False:
        raise UsageError(
            f"--model {info.model_dir}: loading it runs the folder's own Python code ({code}, named by "
            f"auto_map in config.json), which --trust_remote_code false refuses"
        )
    if not _named_by_user(args, info.model_dir):
        logger.warning(
            "running the model's own Python code (%s) from %s, a folder not named on the command line "
            "(it came from a saved args.json or an adapter checkpoint); --trust_remote_code false "
            "refuses it",
            code,
            info.model_dir,
        )
    return True
