"""``--load_args``: fill the basic arguments from the ``args.json`` a training run saved.

A training run writes ``args.json`` into its output folder and into every ``checkpoint-N``
folder inside it.  When ``load_args`` is true (the default for every command but sft, pt and
rlhf), :func:`apply_saved_args` looks for that file next to, in order, the first of
``--adapters``, ``--resume_from_checkpoint`` and ``--model`` (the page has no ``--ckpt_dir``), in
the folder itself or in its parent, and copies into the command's values the basic arguments
(the page's "基本参数": top-level, model, template and quantization groups) that the user did
not set explicitly.  Data arguments are copied only with ``--load_data_args true``; generation
arguments, ``adapters``, ``load_args``, ``load_data_args`` and secrets (``hub_token``, ...) never are.  An
argument that the command redefines in a later group (export's ``quant_method`` and
``max_length``) is not copied, and neither is ``max_length`` outside training, where it means
the max prompt length.  A plugin's argument group joins the basic arguments with ``LOAD_ARGS = True``.

What the run resolved is used as it was (:mod:`swiftk.run_record`): the model folder it loaded
(``model_dir``) when it still exists, its model type and template.  A recorded model type or
template that no installed plugin registers stops the command with one line naming the
distribution that provided it; an explicit ``--template``/``--model_type`` that differs from the
recorded one is used, with a warning.

:func:`expand_adapter_checkpoints` reads an adapter checkpoint given where a model folder is
expected (``--model``, ``--reward_model``) as its base model plus that adapter.

Call both on the parsed values before :func:`swiftk.arguments.derive.derive_defaults`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Dict, Iterable, Optional, Set, Tuple

from swiftk.errors import UsageError

__all__ = [
    "apply_saved_args",
    "find_saved_args",
    "saved_args_files",
    "load_keys",
    "expand_adapter_checkpoints",
    "adapter_base",
    "read_saved_args",
    "is_adapter_folder",
]

logger = logging.getLogger("swiftk.load_args")

NEVER_LOADED = frozenset({"adapters", "load_args", "load_data_args", "hub_token"})

#: Recorded names checked against the registries: (argument, registry kind, key in args.json's ``plugins``).
_RECORDED_NAMES = (("model_type", "models", "model_type"), ("template", "templates", "template"))

#: What marks a folder as a tuner checkpoint rather than a model folder.
_ADAPTER_FILES = ("adapter_config.json", "swiftk_tuner.json")


def _candidates(values: Dict[str, Any]) -> Iterable[str]:
    adapters = values.get("adapters") or []
    if adapters:
        yield adapters[0]
    for key in ("ckpt_dir", "resume_from_checkpoint", "model"):
        if values.get(key):
            yield values[key]


def saved_args_files(path: str) -> list[str]:
    """The ``args.json`` files that describe the run of the folder ``path``: its own, then its parent's
    (a checkpoint folder inside a run folder), those that exist, in that order."""
    folder = path.rstrip("/\\") or path
    found = []
    for where in (folder, os.path.dirname(folder)):
        args_json = os.path.join(where, "args.json")
        if where and os.path.isfile(args_json):
            found.append(args_json)
    return found


def find_saved_args(values: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """``(checkpoint folder, args.json path)`` of the first local candidate that has one, or None."""
    for path in _candidates(values):
        if not isinstance(path, str) or not os.path.isdir(path):
            continue
        files = saved_args_files(path)
        if files:
            return path.rstrip("/\\") or path, files[0]
    return None


def load_keys(command: str, load_data_args: bool) -> Set[str]:
    """The names :func:`apply_saved_args` may fill for ``command``."""
    from swiftk.arguments.base.data import DataArguments
    from swiftk.arguments.base.generation import GenerationArguments
    from swiftk.arguments.commands import BASIC_GROUPS, COMMANDS, TRAIN_COMMANDS

    groups = COMMANDS.get(command, ())
    owner: Dict[str, type] = {}
    for group in groups:
        for f in dataclasses.fields(group):
            owner[f.name] = group
    keys: Set[str] = set()
    for group in BASIC_GROUPS:
        if group is GenerationArguments or (group is DataArguments and not load_data_args):
            continue
        keys.update(f.name for f in dataclasses.fields(group) if owner.get(f.name) is group)
    keys.update(_plugin_basic_arguments(command))
    keys -= NEVER_LOADED
    keys -= {name for group in groups for name in _secret_names(group)}  # tokens come from the flag or environment
    if command not in TRAIN_COMMANDS:
        keys.discard("max_length")
    return keys


def _plugin_basic_arguments(command: str) -> Set[str]:
    """The arguments of the groups plugins add to ``command`` that mark themselves basic (``LOAD_ARGS = True`` on
    the dataclass: a later ms-swift model argument such as ``--new_special_tokens``)."""
    from swiftk.cli.builtin import plugin_groups

    return {
        f.name
        for group in plugin_groups(command)
        if getattr(group, "LOAD_ARGS", False)
        for f in dataclasses.fields(group)
    }


def read_saved_args(args_json: str, flag: str = "--load_args") -> dict:
    """The JSON object of an ``args.json``, or a one-line error naming the file."""
    try:
        with open(args_json, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"{flag}: cannot read {args_json}: {e}") from None
    if not isinstance(saved, dict):
        raise UsageError(f"{flag}: {args_json} does not hold a JSON object")
    return saved


def _secret_names(group: type) -> Set[str]:
    from swiftk.arguments.fields import arg_infos

    return {info.name for info in arg_infos(group) if info.is_secret}


def apply_saved_args(command: str, values: Dict[str, Any], explicit: Set[str]) -> Dict[str, Any]:
    """Return ``values`` with the saved basic arguments filled in (see the module docstring)."""
    from swiftk.arguments.commands import TRAIN_COMMANDS

    out = dict(values)
    load = out.get("load_args")
    if load is None:
        load = command not in TRAIN_COMMANDS
    if not load:
        return out
    found = find_saved_args(out)
    if found is None:
        return out
    _, args_json = found
    saved = read_saved_args(args_json)
    keys = load_keys(command, bool(out.get("load_data_args")))
    from swiftk.arguments.commands import COMMANDS

    saved_command = saved.get("command")
    if saved_command in COMMANDS and saved_command != command:
        # only what meant the same in the saving command: export's --quant_method is the export's, done
        # already (the folder's config.json carries it), not one to quantize with again as the model loads
        keys &= load_keys(saved_command, True)
    explicit = set(explicit or ())
    for key in keys:
        if key in explicit or key not in out or key not in saved or saved[key] is None:
            continue
        out[key] = saved[key]
    model_dir = saved.get("model_dir")
    if "model" in keys and "model" not in explicit and isinstance(model_dir, str) and os.path.isdir(model_dir):
        out["model"] = model_dir  # the folder that run loaded, wherever this command runs from
    check_recorded_names(saved, args_json, out, explicit)
    return out


def check_recorded_names(saved: Dict[str, Any], args_json: str, values: Dict[str, Any], explicit: Set[str]) -> None:
    """The recorded model type and template must be installed; an explicit different one is warned about."""
    from swiftk.host import get_host

    for arg_name, kind, plugin_key in _RECORDED_NAMES:
        recorded = saved.get(arg_name)
        if not isinstance(recorded, str) or not recorded:
            continue
        if arg_name in explicit:
            if values.get(arg_name) and values[arg_name] != recorded:
                logger.warning(
                    "--%s %s differs from the %s '%s' recorded in %s; using %s",
                    arg_name,
                    values[arg_name],
                    arg_name.replace("_", " "),
                    recorded,
                    args_json,
                    values[arg_name],
                )
            continue
        if recorded in get_host().registry(kind):
            continue
        raise UsageError(
            f"--load_args: {args_json} records {arg_name.replace('_', ' ')} '{recorded}', which no "
            f"installed plugin registers: {_provided_by(saved, plugin_key, kind, recorded, arg_name)}"
        )


def _provided_by(saved: Dict[str, Any], plugin_key: str, kind: str, name: str, flag: str) -> str:
    """Which distribution to install (or enable) for a recorded name."""
    from swiftk.hints import distribution_installed, provider_of

    who = (saved.get("plugins") or {}).get(plugin_key) or {}
    dist = who.get("distribution") or provider_of(kind, name)
    if not dist:
        plugin = who.get("plugin")
        return (
            f"the run used plugin '{plugin}'; load it again (--custom_register_path/--external_plugins or its package)"
            if plugin
            else f"the run's plugin is unknown; pass --{flag} to choose one"
        )
    version = f" {who['version']}" if who.get("version") else ""
    if distribution_installed(dist):
        return (
            f"it was provided by {dist}{version}, which is installed but not loaded (check "
            f"SWIFTK_DISABLED_PLUGINS, SWIFTK_LOAD_PLUGINS, SWIFTK_DISABLE_PLUGIN_AUTOLOAD)"
        )
    return f"it was provided by {dist}{version}: pip install {dist}"


# --- an adapter checkpoint where a model folder is expected -------------------------------------------


def is_adapter_folder(path: Any) -> bool:
    return (
        isinstance(path, str)
        and os.path.isdir(path)
        and not os.path.isfile(os.path.join(path, "config.json"))
        and any(os.path.isfile(os.path.join(path, name)) for name in _ADAPTER_FILES)
    )


def adapter_base(path: str, flag: str) -> Tuple[str, Dict[str, Any]]:
    """``(base model, the run's saved arguments or {})`` of the adapter checkpoint ``path``: the model
    its ``args.json`` records (the folder it loaded, when that still exists), else the
    ``base_model_name_or_path`` of its ``adapter_config.json``."""
    for args_json in saved_args_files(path):
        saved = read_saved_args(args_json, flag)
        model_dir = saved.get("model_dir")
        if isinstance(model_dir, str) and os.path.isdir(model_dir):
            return model_dir, saved
        if saved.get("model"):
            return saved["model"], saved
    config = os.path.join(path, "adapter_config.json")
    if os.path.isfile(config):
        base = read_saved_args(config, flag).get("base_model_name_or_path")
        if base:
            return base, {}
    raise UsageError(
        f"{flag} {path}: an adapter checkpoint whose base model is unknown (no args.json next to it, "
        f"no base_model_name_or_path in adapter_config.json); pass the base model as {flag} and the "
        f"checkpoint with --adapters"
    )


def expand_adapter_checkpoints(values: Dict[str, Any], explicit: Set[str]) -> Dict[str, Any]:
    """``--model CKPT`` (``--reward_model CKPT``) where CKPT is an adapter checkpoint: the base model it
    was trained on, with CKPT first in ``--adapters`` (``--reward_adapters``); the model type comes
    from its args.json unless given."""
    out = dict(values)
    for flag, adapters_key, type_key in (
        ("model", "adapters", "model_type"),
        ("reward_model", "reward_adapters", "reward_model_type"),
    ):
        path = out.get(flag)
        if flag not in out or adapters_key not in out or not isinstance(path, str) or not is_adapter_folder(path):
            continue  # several reward models: each is resolved by the plugin that loads them
        base, saved = adapter_base(path, f"--{flag}")
        out[flag] = base
        out[adapters_key] = [path] + [a for a in (out.get(adapters_key) or []) if a != path]
        if type_key not in explicit and saved.get("model_type") and type_key in out:
            out[type_key] = saved["model_type"]
        logger.warning(
            "--%s %s is an adapter checkpoint: loading its base model %s with that adapter", flag, path, base
        )
    return out
