"""``--model`` → model folder, ``model_type`` and ``ModelMeta`` → loaded model, processor and template.

Read top to bottom:

1. :func:`resolve_model` finds the folder (a local path, a registered model id with a local
   ``model_path``, or a hub download), reads its ``config.json`` and picks the model type:
   ``--model_type``; else a plugin's ``resolve_model_type`` hook; else the registered types whose
   ``architectures`` match, told apart by the folder's name; else the generic ``causal_lm`` type.
2. :func:`load_model_and_processor` asks the plugin answering the ``load_model`` hook
   (swift-plugin-models: dtype, attention, RoPE scaling, device map, the registered quantizer, a
   classification head; ``ModelMeta.get_function`` or the generic transformers loader), then calls
   the ``post_model_load`` hook.
3. :func:`get_template` builds the chat template that encodes conversations.

Only the standard library and swiftk are imported here; torch and transformers load inside the
functions that need them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Optional

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
    #: A classifier's loss and decoding: regression, single_label_classification or multi_label_classification.
    problem_type: Optional[str] = None
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


def _task(args: Any, meta: Any, config: dict) -> tuple[str, Optional[int], Optional[str]]:
    """``(task_type, num_labels, problem_type)``: a classifier when ``--num_labels`` is given or, unless
    ``--task_type`` is, when config.json names a ``*ForSequenceClassification`` (a trained classifier or
    reward model, whose labels and problem type config.json also holds)."""
    explicit = getattr(args, "explicit", set()) or set()
    task_type = args.get("task_type") or meta.task_type or "causal_lm"
    num_labels = args.get("num_labels")
    archs = config.get("architectures") or []
    guess = "task_type" not in explicit and task_type == "causal_lm"  # a reranker's head is no classifier
    if num_labels or (guess and any(str(a).endswith("ForSequenceClassification") for a in archs)):
        task_type = "seq_cls"
    if task_type != "seq_cls":
        return task_type, num_labels, None
    if not num_labels:
        num_labels = config.get("num_labels") or len(config.get("id2label") or {}) or None
    return task_type, num_labels, args.get("problem_type") or config.get("problem_type")


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
        if args.rope_scaling == "yarn":  # YaRN scales from the length the model was trained at
            rope["original_max_position_embeddings"] = max_len
        max_len = max(max_len, max_length)
    task_type, num_labels, problem_type = _task(args, meta, config)
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
        problem_type=problem_type,
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


def load_model_and_processor(args: Any, *, load_model: bool = True) -> tuple[Any, Any, ModelInfo]:
    """Resolve and load ``--model``: ``(model or None, tokenizer/processor, ModelInfo)``."""
    info = resolve_model(args)
    if info.model_meta is not None:
        from swiftk.requirements import check_requires

        check_requires(_requirements(info, args), f"--model {args.model} (model_type {info.model_type})")
    if "model_kwargs" in args:
        from swiftk.arguments.model_env import set_model_kwargs

        set_model_kwargs(args.get("model_kwargs"))
    # the loading arguments, quantization and the weights: the plugin answering load_model
    loaded = _host().hook.load_model(args=args, model_info=info, load_weights=load_model)
    if loaded is None:
        from swiftk.hints import MODEL_LOADER_PROVIDER as provider

        raise MissingPluginError(
            f"--model {info.model_dir}: loading a model needs a plugin implementing the load_model hook: "
            f"pip install {provider}",
            provider,
        )
    model, processor = loaded
    tokenizer = getattr(processor, "tokenizer", processor)
    if (
        tokenizer is not None
        and getattr(tokenizer, "pad_token", None) is None
        and getattr(tokenizer, "eos_token", None)
    ):
        tokenizer.pad_token = tokenizer.eos_token
    if model is not None:
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


def _requirements(info: ModelInfo, args: Any) -> list[str]:
    """The model type's ``requires`` and those of the model group naming this checkpoint."""
    wanted = {str(args.model).lower(), os.path.basename(info.model_dir.rstrip("/")).lower()}
    found = list(info.model_meta.requires or [])
    for group in info.model_meta.model_groups or []:
        ids = {i.lower() for m in group.models for i in (m.ms_model_id, m.hf_model_id) if i}
        if wanted & (ids | {i.rsplit("/", 1)[-1] for i in ids}):
            found += list(group.requires or [])
    return found


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
    template = cls(processor, meta, **kwargs) if meta is not None else cls(processor, **kwargs)
    if model_info is not None and model_info.task_type == "seq_cls":
        template.num_labels = model_info.num_labels  # what a classifier's labels are encoded against
        template.problem_type = model_info.problem_type
    if args.get("max_pixels"):
        template.max_pixels = int(args.max_pixels)  # images above it are scaled down (multimodal templates)
    prefix = args.get("response_prefix") if "response_prefix" in args else None  # registered by swift-plugin-models
    if prefix is not None and getattr(template, "meta", None) is not None:
        # later ms-swift's --response_prefix: the generation prompt's end, instead of the template's own
        import dataclasses

        template.meta = dataclasses.replace(template.meta, response_prefix=prefix.replace("\\n", "\n"))
    return template
