"""``swiftk run JOB.yaml [overrides]``: one command, or ``steps:`` run in order.

A job file is either one command with its arguments::

    command: sft
    model: swiftk/tiny-chat
    dataset: [swift/self-cognition#500]

or a list of steps, where a later step refers to an earlier one's output::

    steps:
      - name: train
        command: sft
        args: {model: swiftk/tiny-chat, dataset: [swift/self-cognition#500]}
      - command: infer
        args: {adapters: ["${train.last_checkpoint}"]}

References: ``${NAME.output_dir}``, ``${NAME.last_checkpoint}``, ``${NAME.best_checkpoint}`` and
``${prev.…}`` for the step just before.  Arguments after the job file (``--model_name A B``)
override that argument in every step whose command takes it.  The run stops at the first
failing step with its exit code.

Relative input paths in the job file (datasets, models, adapters, plugin and config files) are
relative to the job file's folder when they exist there, so a job runs from any working folder;
outputs (``output_dir``, ``logging_dir``, ``result_path``) and command-line values stay relative to
the working folder.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Optional

from swiftk.errors import UsageError

_REF = re.compile(r"\$\{([A-Za-z0-9_\-]+)\.([A-Za-z_]+)\}")

#: Arguments that read a file or folder (or name a hub id / registered name instead).  Arguments
#: typed as a dict (``model_kwargs``, ``deepspeed``, ...) also take a JSON file and are resolved too.
INPUT_PATHS = frozenset(
    "model adapters ref_model reward_model reward_adapters resume_from_checkpoint dataset val_dataset eval_dataset "
    "custom_dataset_info cache_files custom_register_path external_plugins deepspeed fsdp_config generation_config "
    "local_repo_path prm_model orm_model system".split()
)
_SAMPLES = re.compile(r"^(.*?)(#\d+)$")


@dataclass
class Step:
    index: int
    name: str
    command: str
    args: dict[str, Any]
    output_dir: Optional[str] = None
    outputs: dict[str, Any] = field(default_factory=dict)


def load_job(path: str) -> list[Step]:
    """Read a job file into steps (a single-command job is one step)."""
    from swiftk.cli.builtin import load_config_file

    if not os.path.isfile(path):
        raise UsageError(f"swiftk run: no such job file: {path}")
    data = load_config_file(path) if path.endswith((".yaml", ".yml", ".json")) else None
    if data is None:
        raise UsageError(f"swiftk run: {path} must be a .yaml, .yml or .json file")
    raw_steps = data.get("steps")
    if raw_steps is None:
        raw_steps = [data]
    elif not isinstance(raw_steps, list) or not raw_steps:
        raise UsageError(f"swiftk run: {path}: 'steps' must be a non-empty list")
    steps = []
    for i, raw in enumerate(raw_steps, 1):
        if not isinstance(raw, dict) or "command" not in raw:
            raise UsageError(f"swiftk run: {path}: step {i} needs a 'command' (e.g. command: sft)")
        raw = dict(raw)
        command = str(raw.pop("command"))
        name = str(raw.pop("name", f"step{i}"))
        args = raw.pop("args", None)
        if args is None:
            args = raw
        elif raw:
            raise UsageError(
                f"swiftk run: {path}: step {i} mixes 'args' with top-level keys "
                f"{', '.join(sorted(raw))}; put every argument under 'args'"
            )
        if not isinstance(args, dict):
            raise UsageError(f"swiftk run: {path}: step {i} 'args' must be a mapping")
        steps.append(Step(i, name, command, args))
    names = [s.name for s in steps]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise UsageError(f"swiftk run: {path}: step names must be unique: {', '.join(sorted(duplicates))}")
    return steps


def _relative_to(base: str, value: str) -> str:
    """``value`` joined to ``base`` if that exists (a ``#N`` sample suffix kept), else unchanged."""
    if not value or os.path.isabs(value) or "${" in value:
        return value
    m = _SAMPLES.match(value)
    path, suffix = (m.group(1), m.group(2)) if m else (value, "")
    candidate = os.path.join(base, path)
    try:
        return candidate + suffix if path and os.path.exists(candidate) else value
    except (ValueError, OSError):  # not a possible path (a system prompt with a NUL, too long)
        return value


def resolve_inputs(args: dict[str, Any], base: str, dict_args: frozenset = frozenset()) -> dict[str, Any]:
    """The step's arguments with relative input paths made relative to ``base`` (the job file's
    folder) where they exist there; hub ids, registered names and outputs are left as they are."""
    out = dict(args)
    for name, value in args.items():
        key = name.replace("-", "_")
        if key not in INPUT_PATHS and key not in dict_args:
            continue
        if isinstance(value, str):
            out[name] = _relative_to(base, value)
        elif isinstance(value, list):
            out[name] = [_relative_to(base, v) if isinstance(v, str) else v for v in value]
    return out


def step_outputs(output_dir: Optional[str]) -> dict[str, Any]:
    """What later steps may refer to: the output folder and its last and best checkpoints."""
    out: dict[str, Any] = {"output_dir": output_dir}
    if not output_dir or not os.path.isdir(output_dir):
        return out
    checkpoints = sorted(
        glob.glob(os.path.join(output_dir, "checkpoint-*")),
        key=lambda p: int(p.rsplit("-", 1)[-1]) if p.rsplit("-", 1)[-1].isdigit() else -1,
    )
    last = checkpoints[-1] if checkpoints else None
    out["last_checkpoint"] = last
    best = None
    if last:
        state = os.path.join(last, "trainer_state.json")
        if os.path.isfile(state):
            with open(state, encoding="utf-8") as f:
                best = json.load(f).get("best_model_checkpoint")
    out["best_checkpoint"] = best or last
    return out


def substitute(value: Any, done: list[Step], step: Step) -> Any:
    """Replace ``${name.key}`` references with the outputs of finished steps."""
    if isinstance(value, list):
        return [substitute(v, done, step) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, done, step) for k, v in value.items()}
    if not isinstance(value, str):
        return value
    by_name = {s.name: s for s in done}

    def replace(match: re.Match) -> str:
        ref, key = match.group(1), match.group(2)
        target = done[-1] if ref == "prev" and done else by_name.get(ref)
        if target is None:
            raise UsageError(
                f"swiftk run: step '{step.name}' refers to '${{{ref}.{key}}}', but no earlier "
                f"step is named '{ref}' (earlier: {', '.join(by_name) or 'none'})"
            )
        if target.outputs.get(key) is None:
            valid = ", ".join(k for k, v in target.outputs.items() if v is not None)
            raise UsageError(
                f"swiftk run: step '{step.name}' refers to '${{{ref}.{key}}}', which step "
                f"'{target.name}' did not produce (it has: {valid or 'nothing'})"
            )
        return str(target.outputs[key])

    return _REF.sub(replace, value)


def run_job(path: str, overrides: list[str]) -> int:
    """Run every step of the job; returns the first non-zero exit code, or 0."""
    from swiftk.arguments.parser import split_flags
    from swiftk.cli.builtin import BUILTIN_COMMANDS, invoke, make_parser

    steps = load_job(path)
    override_flags = split_flags(overrides)
    accepted_by: dict[str, list[str]] = {name: [] for name, _ in override_flags}
    step_overrides: dict[int, list[str]] = {}
    for step in steps:
        if step.command not in BUILTIN_COMMANDS:
            from swiftk.host import get_host

            get_host().registry("commands").entry(step.command)  # a clear error for an unknown command
        infos = make_parser(step.command).infos
        names = set(infos)
        dict_args = frozenset(n for n, info in infos.items() if info.is_dict)
        step.args = resolve_inputs(step.args, os.path.dirname(os.path.abspath(path)), dict_args)
        tokens: list[str] = []
        for name, values in override_flags:
            if name in names:
                tokens += [f"--{name}", *values]
                accepted_by[name].append(step.name)
        step_overrides[step.index] = tokens
    unused = [n for n, users in accepted_by.items() if not users]
    if unused:
        raise UsageError(
            f"swiftk run: override {', '.join('--' + n for n in unused)} is accepted by no "
            f"step of {path} (commands: {', '.join(s.command for s in steps)})"
        )
    done: list[Step] = []
    for step in steps:
        args = substitute(step.args, done, step)
        sys.stderr.write(f"swiftk run: step {step.index}/{len(steps)} '{step.name}': swiftk {step.command}\n")
        try:
            code, resolved = invoke(step.command, step_overrides[step.index], extra_config=args)
        except SystemExit as exc:  # a plugin command that exits
            code, resolved = (exc.code if isinstance(exc.code, int) else 1), None
        if code != 0:
            sys.stderr.write(
                f"swiftk run: step {step.index} '{step.name}' ({step.command}) failed with "
                f"exit code {code}; later steps were not run\n"
            )
            return code
        step.output_dir = resolved.get("output_dir") if resolved is not None else None
        step.outputs = step_outputs(step.output_dir)
        done.append(step)
    return 0
