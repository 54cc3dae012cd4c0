"""``--load_args``: fill the basic arguments from the ``args.json`` a training run saved.

A training run writes ``args.json`` into its output folder and into every ``checkpoint-N``
folder inside it.  When ``load_args`` is true (the default for every command but sft, pt and
rlhf), :func:`apply_saved_args` looks for that file next to, in order, the first of
``--adapters``, ``--resume_from_checkpoint`` and ``--model`` (the page has no ``--ckpt_dir``), in
the folder itself or in its parent, and copies into the command's values the basic arguments
(the page's "基本参数": top-level, model, template and quantization groups) that the user did
not set explicitly.  Data arguments are copied only with ``--load_data_args true``; generation
arguments, ``adapters``, ``load_args``, ``load_data_args`` and ``hub_token`` never are.  An
argument that the command redefines in a later group (export's ``quant_method`` and
``max_length``) is not copied, and neither is ``max_length`` outside training, where it means
the max prompt length.

Call it on the parsed values before :func:`swiftk.arguments.derive.derive_defaults`.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, Iterable, Optional, Set, Tuple

from swiftk.errors import UsageError

__all__ = ["apply_saved_args", "find_saved_args", "load_keys"]

NEVER_LOADED = frozenset({"adapters", "load_args", "load_data_args", "hub_token"})


def _candidates(values: Dict[str, Any]) -> Iterable[str]:
    adapters = values.get("adapters") or []
    if adapters:
        yield adapters[0]
    for key in ("ckpt_dir", "resume_from_checkpoint", "model"):
        if values.get(key):
            yield values[key]


def find_saved_args(values: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """``(checkpoint folder, args.json path)`` of the first local candidate that has one, or None."""
    for path in _candidates(values):
        if not isinstance(path, str) or not os.path.isdir(path):
            continue
        folder = path.rstrip("/\\") or path
        for where in (folder, os.path.dirname(folder)):
            args_json = os.path.join(where, "args.json")
            if where and os.path.isfile(args_json):
                return folder, args_json
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
    keys -= NEVER_LOADED
    if command not in TRAIN_COMMANDS:
        keys.discard("max_length")
    return keys


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
    try:
        with open(args_json, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"--load_args: cannot read {args_json}: {e}") from None
    if not isinstance(saved, dict):
        raise UsageError(f"--load_args: {args_json} does not hold a JSON object")
    keys = load_keys(command, bool(out.get("load_data_args")))
    explicit = set(explicit or ())
    for key in keys:
        if key in explicit or key not in out or key not in saved or saved[key] is None:
            continue
        out[key] = saved[key]
    return out
