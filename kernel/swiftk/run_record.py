"""What a run resolved, kept in its ``args.json`` so that every later command uses the same.

A training run auto-detects much of what it uses: the model type, the template, the dtype, the
context length, the default system prompt, the modules the tuner wrapped.  ms-swift writes those
resolved values into ``args.json``; so do we, and we also name the plugin distribution (and
version) that provided each name the run used, so that reading the run elsewhere either finds
the same plugin or says which one is missing.

``args.json`` is then:

* every argument, with ``model_type``, ``template``, ``torch_dtype``, ``max_length`` and ``system``
  filled with the resolved values when they were not given;
* ``model_dir``: the folder actually loaded;
* ``resolved``: what has no argument of its own (``target_modules`` the tuner wrapped, the
  template's ``stop_words``, the model's ``max_model_len``, ...);
* ``plugins``: ``{"model_type": {"name", "plugin", "distribution", "version"}, "template": ...,
  "tuner": ..., "trainer": ..., "datasets": {name: ...}, "rewards": {name: ...}}``.

The pipelines call :func:`record_model`, :func:`record_template` and :func:`record_tuner` as
they resolve, then :func:`save_args`.  :data:`RECORD_KEYS` are the keys that are not arguments,
which ``--config args.json`` skips.
"""

from __future__ import annotations

import os
from typing import Any, Optional

__all__ = [
    "RECORD_KEYS",
    "provider",
    "record_model",
    "record_template",
    "record_tuner",
    "record_plugins",
    "record_resolution",
    "save_args",
    "is_main_process",
]

#: Keys of args.json that are not arguments: what the run resolved and who provided it.
RECORD_KEYS = frozenset({"command", "model_dir", "resolved", "plugins"})

#: (registry kind, argument naming entries of it, key in the ``plugins`` map) of the names a run records.
_NAMED_BY_ARGUMENTS = (
    ("tuners", "train_type", "tuner"),
    ("losses", "loss_type", "loss_type"),
    ("optimizers", "optimizer", "optimizer"),
    ("rewards", "reward_funcs", "rewards"),
    ("datasets", "dataset", "datasets"),
    ("datasets", "val_dataset", "datasets"),
    ("quantizers", "quant_method", "quantizer"),
    ("samplers", "sampler_type", "sampler"),
    ("rewards", "orm_model", "orm_model"),
    ("rewards", "prm_model", "prm_model"),
)
_MANY = {"rewards", "datasets"}


def is_main_process() -> bool:
    """Rank 0 (or no distributed launch): the process that writes run files."""
    return os.environ.get("RANK", "0") == "0"


def provider(kind: str, name: str) -> Optional[dict]:
    """``{"name", "plugin", "distribution", "version"}`` of the plugin that registered ``name``, or None."""
    from swiftk.host import get_host

    host = get_host()
    registry = host.registry(kind)
    if name not in registry:
        return None
    plugin = registry.entry(name).plugin
    info = host.plugin_info(plugin)
    return {
        "name": name,
        "plugin": plugin,
        "distribution": info.distribution if info else None,
        "version": info.version if info else None,
    }


def _record(args: Any) -> dict:
    record = getattr(args, "record", None)
    if record is None:
        raise TypeError("run_record needs swiftk Arguments (with a .record dict)")
    record.setdefault("resolved", {})
    record.setdefault("plugins", {})
    record.setdefault("fill", {})
    return record


def record_model(args: Any, model_info: Any) -> None:
    """The model folder, type and dtype that :func:`swiftk.pipelines.model.resolve_model` chose."""
    record = _record(args)
    record["model_dir"] = model_info.model_dir
    record["fill"].update(model_type=model_info.model_type, torch_dtype=model_info.torch_dtype)
    if model_info.max_model_len:
        record["resolved"]["max_model_len"] = model_info.max_model_len
    record["resolved"]["task_type"] = model_info.task_type
    who = provider("models", model_info.model_type)
    if who:
        record["plugins"]["model_type"] = who


def record_torch_dtype(args: Any, dtype: str) -> None:
    """The dtype a written model folder holds (a quantized export's may differ from its source's)."""
    _record(args)["fill"]["torch_dtype"] = dtype


def record_template(args: Any, template: Any, name: Optional[str]) -> None:
    """The template ``name`` in use and, given the built ``template``, its default system prompt,
    context length and stop words."""
    record = _record(args)
    if not name:
        return
    record["fill"]["template"] = name
    system = getattr(template, "default_system", None)
    if system is not None:
        record["fill"]["system"] = system
    max_length = getattr(template, "max_length", None)
    if max_length:
        record["fill"]["max_length"] = max_length
    stop_words = getattr(template, "stop_words", None)
    if stop_words is not None:
        record["resolved"]["stop_words"] = [w if isinstance(w, str) else list(w) for w in stop_words]
    who = provider("templates", name)
    if who:
        record["plugins"]["template"] = who


def record_tuner(args: Any, model: Any) -> None:
    """The modules the tuner wrapped (peft's resolved ``target_modules``, ``modules_to_save``)."""
    record = _record(args)
    configs = getattr(model, "peft_config", None)
    if not isinstance(configs, dict) or not configs:
        return
    config = configs.get("default") or next(iter(configs.values()))
    for key in ("target_modules", "modules_to_save"):
        value = getattr(config, key, None)
        if value is None:
            continue
        record["resolved"][key] = value if isinstance(value, str) else sorted(value)


def record_plugins(args: Any, trainer: Optional[str] = None) -> None:
    """The plugins that provide the trainer and every tuner, loss, optimizer, reward and dataset named."""
    record = _record(args)
    plugins = record["plugins"]
    if trainer:
        who = provider("trainers", trainer)
        if who:
            plugins["trainer"] = who
    for kind, arg_name, key in _NAMED_BY_ARGUMENTS:
        value = args.get(arg_name)
        for name in value if isinstance(value, (list, tuple)) else [value]:
            if not isinstance(name, str) or not name:
                continue
            who = provider(kind, _registered_name(kind, name))
            if who is None:
                continue
            if key in _MANY:
                plugins.setdefault(key, {})[name] = who
            else:
                plugins[key] = who


def record_resolution(args: Any, info: Any = None, *, model: bool = True) -> None:
    """What a command reading ``--model`` resolved (its folder, type, dtype and template) and the plugins of
    every name it uses, for its args.json; ``info``: the :func:`resolve_model` result, when already known;
    ``model=False``: the plugins only (a model served elsewhere)."""
    if model:
        from swiftk.pipelines.model import resolve_model, template_name

        info = info or resolve_model(args)
        record_model(args, info)
        record_template(args, None, template_name(args, info))
    record_plugins(args)


def _registered_name(kind: str, name: str) -> str:
    """A dataset argument (``name:subset#500``) as its registered name."""
    if kind != "datasets":
        return name
    return name.split("#", 1)[0].split(":", 1)[0]


def save_args(args: Any) -> Optional[str]:
    """Rewrite ``output_dir/args.json`` with what the run resolved so far (rank 0 only)."""
    output_dir = args.get("output_dir")
    if output_dir and is_main_process() and os.path.isdir(output_dir):
        return args.save(output_dir)
    return None
