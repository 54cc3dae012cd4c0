"""``--model`` → model folder, ``model_type`` and ``ModelMeta`` → loaded model, processor and template.

Read top to bottom:

1. :func:`resolve_model` finds the folder (a local path, a registered model id with a local
   ``model_path``, or a hub download), reads its ``config.json`` and picks the model type:
   ``--model_type``; else a plugin's ``resolve_model_type`` hook; else the registered types whose
   ``architectures`` match, told apart by the folder's name; else the generic ``causal_lm`` type.
2. :func:`load_model_and_processor` loads it with the loading arguments (dtype, attention, RoPE
   scaling, device map, quantization, classification head), through ``ModelMeta.get_function`` or
   the generic transformers loader, then calls the ``post_model_load`` hook.
3. :func:`get_template` builds the chat template that encodes conversations.

Only the standard library and swiftk are imported here; torch and transformers load inside the
functions that need them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from swiftk.errors import MissingPluginError, UsageError

logger = logging.getLogger("swiftk.model")

__all__ = [
    "ModelInfo",
    "resolve_model",
    "load_model_and_processor",
    "get_template",
    "template_name",
    "resolve_model_dir",
    "read_config",
]

_DTYPES = ("float16", "bfloat16", "float32")
_LENGTH_KEYS = ("max_position_embeddings", "seq_length", "max_sequence_length", "n_positions", "max_seq_len")


@dataclass
class ModelInfo:
    """What was resolved about a model before (or without) loading it."""

    model_dir: str
    model_type: str
    model_meta: Any
    config: dict
    template_type: Optional[str]
    torch_dtype: Optional[str]
    is_multimodal: bool = False
    max_model_len: Optional[int] = None
    task_type: str = "causal_lm"
    num_labels: Optional[int] = None
    architectures: list = field(default_factory=list)
    rope_scaling: Optional[dict] = None
    quant_method: Optional[str] = None
    quant_bits: Optional[int] = None


# --- 1. resolving ------------------------------------------------------------------------------


def _host():
    import swiftk

    return swiftk.get_host()


def _model_metas() -> list:
    return [entry.load() for entry in _host().registry("models").entries()]


def _unknown(kind: str, flag: str, name: str) -> UsageError:
    """One line naming the flag, close names and every valid name (or the distribution to install)."""
    import difflib

    registry = _host().registry(kind)
    hint = registry.missing_message(name)
    if "provided by" in hint:
        return UsageError(hint)
    names = sorted(registry.names())
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    maybe = f" (did you mean {', '.join(close)}?)" if close else ""
    return UsageError(f"{flag} {name}: unknown {registry.label}{maybe}; valid: {', '.join(names)}")


def _is_path_like(value: str) -> bool:
    """A filesystem path rather than a hub id (``org/name``)."""
    return value.startswith(("/", ".", "~")) or value.count("/") > 1 or "\\" in value


def resolve_model_dir(args: Any) -> tuple[str, Optional[str], str]:
    """``(folder, model type implied by a registered id or None, the model's name)``."""
    model = args.get("model")
    if not model:
        raise UsageError("--model is required: a local model folder or a hub id such as Qwen/Qwen2.5-0.5B-Instruct")
    expanded = os.path.expanduser(model)
    if os.path.isdir(expanded):
        return os.path.abspath(expanded), None, _name_of(os.path.abspath(expanded))
    for meta in _model_metas():
        for group in getattr(meta, "model_groups", None) or []:
            for m in group.models:
                if model in (m.ms_model_id, m.hf_model_id) and m.model_path:
                    path = os.path.abspath(os.path.expanduser(m.model_path))
                    if not os.path.isdir(path):
                        raise UsageError(
                            f"--model {model}: registered by model type '{meta.model_type}' with the "
                            f"local folder {path}, which does not exist"
                        )
                    return path, meta.model_type, model.rsplit("/", 1)[-1]
    if _is_path_like(model) or os.path.exists(expanded):
        raise UsageError(f"--model {model}: no such folder")
    return _download(model, args), None, model.rsplit("/", 1)[-1]


def _name_of(model_dir: str) -> str:
    """The model's name from its folder; hub caches (``models--org--name/snapshots/hash``) are decoded."""
    parts = model_dir.replace("\\", "/").rstrip("/").split("/")
    for part in reversed(parts):
        if part.startswith("models--"):
            return part.split("--")[-1]
    return parts[-1]


def _download(model_id: str, args: Any) -> str:
    """The local folder of hub id ``model_id``, from the plugin answering ``download_model``."""
    from swiftk.hints import MODEL_DOWNLOAD_PROVIDER as provider

    folder = _host().hook.download_model(model_id=model_id, args=args)
    if folder is None:
        raise MissingPluginError(
            f"--model {model_id}: not a local folder, and no installed plugin downloads models "
            f"from a hub (the download_model hook): pip install {provider}, or pass a folder",
            provider,
        )
    return folder


def read_config(model_dir: str) -> dict:
    path = os.path.join(model_dir, "config.json")
    if not os.path.isfile(path):
        raise UsageError(
            f"--model {model_dir}: no config.json in this folder; --model must be a model folder "
            f"(config.json, tokenizer files, weights) or a hub id"
        )
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except ValueError as exc:
        raise UsageError(f"--model {model_dir}: config.json is not valid JSON ({exc})") from None


def _pick_model_type(args: Any, model_dir: str, name: str, config: dict, implied: Optional[str]) -> str:
    registry = _host().registry("models")
    explicit = args.get("model_type")
    if explicit:
        if explicit not in registry:
            raise _unknown("models", "--model_type", explicit)
        return explicit
    if implied:
        return implied
    hooked = _host().hook.resolve_model_type(model_dir=model_dir, config=config)
    if hooked:
        if hooked not in registry:
            raise UsageError(
                f"a plugin's resolve_model_type answered '{hooked}' for {model_dir}, which is not a "
                f"registered model type"
            )
        return hooked
    archs = config.get("architectures") or []
    metas = _model_metas()
    candidates = [m for m in metas if set(m.architectures) & set(archs)]
    if candidates:
        return _disambiguate(candidates, name).model_type
    generic = [m for m in metas if (m.extra or {}).get("generic")]
    if generic and _auto_loadable(config):
        logger.warning(
            "model_type %s (generic) for %s: its architectures %s are not registered; the template "
            "defaults to %s (pass --model_type / --template to choose)",
            generic[0].model_type,
            model_dir,
            archs,
            generic[0].template,
        )
        return generic[0].model_type
    hint = " (causal_lm loads any AutoModelForCausalLM folder)" if generic else ""
    raise UsageError(
        f"--model {model_dir}: its config.json architectures {archs or '(none)'} match no registered "
        f"model type; pass --model_type{hint} and --template (e.g. chatml)"
    )


def _disambiguate(candidates: list, name: str) -> Any:
    """Among types sharing an architecture: a registered id with this name, else the longest name
    pattern match, else the architecture's default type, else the first."""
    import re

    lowered = name.lower()
    for meta in candidates:
        for group in meta.model_groups or []:
            for m in group.models:
                ids = {i.rsplit("/", 1)[-1].lower() for i in (m.ms_model_id, m.hf_model_id) if i}
                if lowered in ids:
                    return meta
    best, best_len = None, 0
    for meta in candidates:
        for pattern in (meta.extra or {}).get("name_patterns", []):
            match = re.search(pattern, lowered)
            if match and len(match.group(0)) + 1 > best_len:
                best, best_len = meta, len(match.group(0)) + 1
    if best is not None:
        return best
    return next((m for m in candidates if (m.extra or {}).get("arch_default")), candidates[0])


def _auto_loadable(config: dict) -> bool:
    """Whether AutoModelForCausalLM can load a folder with this config."""
    if "AutoModelForCausalLM" in (config.get("auto_map") or {}):
        return True
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError:
        return False
    return config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def _config_dtype(config: dict) -> Optional[str]:
    value = config.get("torch_dtype") or config.get("dtype") or (config.get("text_config") or {}).get("torch_dtype")
    return value if value in _DTYPES else None


def _max_model_len(config: dict) -> Optional[int]:
    for source in (config, config.get("text_config") or {}, config.get("llm_config") or {}):
        for key in _LENGTH_KEYS:
            value = source.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def resolve_model(args: Any) -> ModelInfo:
    """Folder, config and model type of ``--model``, without loading anything heavy."""
    model_dir, implied, name = resolve_model_dir(args)
    config = read_config(model_dir)
    model_type = _pick_model_type(args, model_dir, name, config, implied)
    meta = _host().registry("models").get(model_type)
    dtype = args.get("torch_dtype") or _config_dtype(config) or meta.torch_dtype or "float32"
    max_len = _max_model_len(config)
    rope = None
    if args.get("rope_scaling"):
        max_length = args.get("max_length")
        if not max_length or not max_len:
            raise UsageError(
                "--rope_scaling needs --max_length (the context length to reach) and a config.json "
                "with max_position_embeddings"
            )
        rope = {"rope_type": args.rope_scaling, "factor": max(1.0, max_length / max_len)}
        max_len = max(max_len, max_length)
    task_type = args.get("task_type") or meta.task_type or "causal_lm"
    num_labels = args.get("num_labels")
    if num_labels:
        task_type = "seq_cls"
    return ModelInfo(
        model_dir=model_dir,
        model_type=model_type,
        model_meta=meta,
        config=config,
        template_type=meta.template,
        torch_dtype=dtype,
        is_multimodal=bool(meta.is_multimodal),
        max_model_len=max_len,
        task_type=task_type,
        num_labels=num_labels,
        architectures=list(config.get("architectures") or []),
        rope_scaling=rope,
        quant_method=args.get("quant_method"),
        quant_bits=args.get("quant_bits"),
    )


def preview_resolution(args: Any) -> dict:
    """``{"model_type", "template", "torch_dtype"}`` that a run of ``args`` will resolve, when that needs only
    a local ``config.json`` (``--print_args``): nothing is downloaded, no weights are loaded."""
    model = args.get("model")
    if not isinstance(model, str) or not os.path.isfile(os.path.join(os.path.expanduser(model), "config.json")):
        return {}
    info = resolve_model(args)
    return {
        "model_type": info.model_type,
        "template": template_name(args, info),
        "torch_dtype": info.torch_dtype,
        "model_dir": info.model_dir,
    }


# --- 2. loading ----------------------------------------------------------------------------------


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
    raise UsageError(f"--attn_impl {value}: valid: flash_attn, sdpa, eager")


def _quantizer(args: Any) -> Any:
    """The registered quantizer of ``--quant_method`` (a :class:`swiftk.specs.QuantizerSpec`), or None."""
    method = args.get("quant_method")
    if not method:
        return None
    registry = _host().registry("quantizers")
    if method not in registry:
        raise _unknown("quantizers", "--quant_method", method)
    quantizer = registry.get(method)
    if getattr(quantizer, "load_config", None) is None and getattr(quantizer, "after_load", None) is None:
        raise UsageError(
            f"--quant_method {method}: plugin '{registry.entry(method).plugin}' registered it for "
            f"`swiftk export` only; it cannot quantize a model as it loads"
        )
    return quantizer


def _quantize_step(quantizer: Any, step: str) -> Any:
    from swiftk.registry import load_reference

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
    model_dir: str, model_info: ModelInfo, model_kwargs: dict, load_model: bool = True, **kwargs: Any
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


def _model_kwargs(args: Any, info: ModelInfo, quantizer: Any) -> dict:
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


def check_remote_code(args: Any, info: ModelInfo) -> bool:
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


def _get_function(meta: Any) -> Any:
    from swiftk.registry import load_reference

    fn = getattr(meta, "get_function", None)
    return generic_get_function if fn is None else load_reference(fn)


def load_model_and_processor(args: Any, *, load_model: bool = True) -> tuple[Any, Any, ModelInfo]:
    """Resolve and load ``--model``: ``(model or None, tokenizer/processor, ModelInfo)``."""
    info = resolve_model(args)
    if "model_kwargs" in args:
        from swiftk.arguments.model_env import set_model_kwargs

        set_model_kwargs(args.get("model_kwargs"))
    if load_model and args.get("check_model", True):
        check_model_files(info.model_dir)
    quantizer = _quantizer(args)
    model_kwargs = _model_kwargs(args, info, quantizer)
    after_load = _quantize_step(quantizer, "after_load")
    get_function = _get_function(info.model_meta)
    with _local_repo(args.get("local_repo_path")):
        try:
            model, processor = get_function(info.model_dir, info, model_kwargs, load_model=load_model)
        except ValueError as exc:
            message = str(exc).lower()
            if model_kwargs.get("attn_implementation") != "sdpa" or (
                "sdpa" not in message and "scaled_dot_product" not in message
            ):
                raise
            logger.warning("%s does not support sdpa attention; falling back to eager", info.model_type)
            model_kwargs["attn_implementation"] = "eager"
            model, processor = get_function(info.model_dir, info, model_kwargs, load_model=load_model)
    tokenizer = getattr(processor, "tokenizer", processor)
    if (
        tokenizer is not None
        and getattr(tokenizer, "pad_token", None) is None
        and getattr(tokenizer, "eos_token", None)
    ):
        tokenizer.pad_token = tokenizer.eos_token
    if model is not None:
        if after_load is not None:
            after_load(model, args, info.torch_dtype)
        if (
            info.task_type == "seq_cls"
            and getattr(model.config, "pad_token_id", None) is None
            and tokenizer is not None
        ):
            model.config.pad_token_id = tokenizer.pad_token_id
        model.model_info = info
        model.model_meta = info.model_meta
        _host().hook.post_model_load(args=args, model=model, processor=processor)
        if "model_kwargs" in args:
            from swiftk.arguments.model_env import unused_model_kwargs

            unused = unused_model_kwargs()
            if unused:
                logger.warning("--model_kwargs keys no model read: %s", ", ".join(unused))
    return model, processor, info


# --- 3. the template -------------------------------------------------------------------------


def _read_system(value: Optional[str]) -> Optional[str]:
    """``--system``: the text, or the contents of a ``.txt`` file."""
    if value and value.endswith(".txt"):
        path = os.path.expanduser(value)
        if not os.path.isfile(path):
            raise UsageError(f"--system {value}: no such file (a value ending in .txt is read as a file)")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text[:-1] if text.endswith("\n") else text
    return value


def _template_engine(name: str) -> Any:
    from swiftk.hints import TEMPLATE_ENGINE_PROVIDER as provider

    engine = _host().hook.template_engine()
    if engine is None:
        raise MissingPluginError(
            f"--template {name}: encoding conversations needs a template engine (a plugin "
            f"implementing the template_engine hook): pip install {provider}",
            provider,
        )
    return engine


def template_name(args: Any, model_info: Optional[ModelInfo] = None) -> Optional[str]:
    """``--template``, else the model type's default template."""
    return args.get("template") or (model_info.template_type if model_info else None)


def get_template(args: Any, processor: Any, model_info: Optional[ModelInfo] = None, mode: str = "train") -> Any:
    """The chat template of ``--template`` (or the model type's default) set up from the arguments."""
    from swiftk.registry import load_reference
    from swiftk.specs import TemplateMeta

    name = template_name(args, model_info)
    if not name:
        what = f"model type '{model_info.model_type}' has no default template" if model_info else "no model given"
        raise UsageError(f"--template is required: {what}")
    registry = _host().registry("templates")
    if name not in registry:
        raise _unknown("templates", "--template", name)
    obj = registry.get(name)
    meta = obj if isinstance(obj, TemplateMeta) else None
    cls_ref = meta.template_cls if meta is not None else obj
    if cls_ref is None:
        cls = _template_engine(name)
    else:
        cls = load_reference(cls_ref)
    explicit = getattr(args, "explicit", set()) or set()
    use_chat_template = args.get("use_chat_template", True)
    if mode == "train" and not use_chat_template:
        mode = "pt"
    kwargs = dict(
        mode=mode,
        system=_read_system(args.get("system")),
        max_length=args.get("max_length") or (model_info.max_model_len if model_info else None),
        truncation_strategy=args.get("truncation_strategy") or "delete",
        padding_side=args.get("padding_side") or "right",
        loss_scale=args.get("loss_scale") or "default",
        use_chat_template=use_chat_template,
        template_backend=args.get("template_backend") or "swift",
        tools_prompt=args.get("tools_prompt") if "tools_prompt" in explicit else None,
        norm_bbox=args.get("norm_bbox"),
    )
    if model_info is not None and model_info.task_type == "seq_cls":
        kwargs["task_type"] = "seq_cls"
    return cls(processor, meta, **kwargs) if meta is not None else cls(processor, **kwargs)
