"""A command's form, from its argument definitions, and the command line a filled form stands for.

The fields come from ``swiftk.api.command_arguments`` (the kernel's dataclasses plus the groups plugins register),
so an argument a plugin adds appears by itself. Each field is one widget whose value is what the user would type
after the flag; only a value that differs from the default goes on the command line.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass
from typing import Any, Optional, Sequence

#: tab -> the commands it runs (the first is the default; the sft tab also runs pt)
TABS: dict[str, tuple[str, ...]] = {
    "sft": ("sft", "pt"),
    "rlhf": ("rlhf",),
    "infer": ("infer",),
    "deploy": ("deploy",),
    "eval": ("eval",),
    "export": ("export",),
    "sample": ("sample",),
}
#: what a secret argument (hub_token, api_key) shows in a recorded or displayed command line
SECRET_MASK = "***"
#: the text of "no value" (None) in a text box or a drop-down
NONE_TEXT = ""


@dataclass(frozen=True)
class Field:
    """One widget of a form: its kind ('checkbox', 'dropdown', 'multiselect', 'text'), initial value, choices."""

    info: Any  # swiftk's ArgInfo
    kind: str
    value: Any
    choices: tuple = ()

    @property
    def name(self) -> str:
        return self.info.name


def registered_names(kind: Optional[str]) -> list[str]:
    """Names registered in a registry (tuners, rewards, ...): valid values a plugin may have added."""
    if not kind:
        return []
    from swiftk import get_host

    try:
        return list(get_host().registry(kind).names())
    except Exception:  # a registry that fails to load: the documented choices still show
        return []


def _text(value: Any) -> str:
    """A default as the user would type it after the flag."""
    if value is None:
        return NONE_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False) if value else NONE_TEXT
    if isinstance(value, (list, tuple)):
        return shlex.join(str(v) for v in value)
    return str(value)


def field_of(info: Any) -> Field:
    """The widget of one argument."""
    choices = list(info.valid_choices() or ())
    for name in registered_names(info.registry):
        if name not in choices:
            choices.append(name)
    choices = [_text(c) for c in choices]
    if info.is_bool and not info.optional and not info.is_list:
        return Field(info, "checkbox", bool(info.default))
    if info.is_bool:  # Optional[bool]: None means "decided by the run"
        choices = ["true", "false"]
    if choices and info.is_list:
        return Field(info, "multiselect", [_text(v) for v in info.default or []], tuple(choices))
    if choices:
        if info.optional or info.default is None:
            choices = [NONE_TEXT, *choices]
        value = _text(info.default)
        if value not in choices:
            choices.append(value)
        return Field(info, "dropdown", value, tuple(choices))
    return Field(info, "text", _text(info.default))


def form_fields(command: str) -> list[Field]:
    """Every field of a command's form, in the order of its argument groups."""
    from swiftk.api import command_arguments

    return [field_of(info) for info in command_arguments(command)]


def hot_and_groups(fields: Sequence[Field]) -> tuple[list[Field], list[tuple[type, list[Field]]]]:
    """The 🔥 fields, then the others by argument group (the dataclass that declares them), in order."""
    hot = [f for f in fields if f.info.hot]
    groups: dict[type, list[Field]] = {}
    for f in fields:
        if not f.info.hot:
            groups.setdefault(f.info.owner, []).append(f)
    return hot, list(groups.items())


def _same_number(a: str, b: str) -> bool:
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x == y or (math.isnan(x) and math.isnan(y))


def tokens_of(field: Field, value: Any) -> Optional[list[str]]:
    """The tokens after ``--name`` for a widget value, or None when it is the default (left off the line)."""
    info = field.info
    if field.kind == "checkbox":
        return None if bool(value) == bool(info.default) else ["true" if value else "false"]
    if field.kind == "multiselect":
        items = [str(v) for v in (value or [])]
        return None if items == list(field.value) else items
    text = "" if value is None else str(value).strip()
    default = str(field.value).strip()
    if text == default or (text and default and _same_number(text, default)):
        return None
    if not text:
        if info.optional or info.default is None:
            return ["None"]
        if info.is_list or info.is_dict:
            return ["[]"] if info.is_list else ["{}"]
        from swiftk.api import UsageError

        raise UsageError(f"--{info.name}: a value is needed ({info.type_name()}); its default is {default}")
    if info.is_list and field.kind == "text":
        try:
            return shlex.split(text)
        except ValueError as exc:
            from swiftk.api import UsageError

            raise UsageError(f"--{info.name}: {exc} in '{text}' (values are space-separated, quoted as in a shell)")
    return [text]


def build_argv(command: str, fields: Sequence[Field], values: Sequence[Any]) -> list[str]:
    """The arguments of ``swiftk <command>`` for a filled form: only those changed from the default, checked by
    the kernel's parser (a bad value raises one UsageError naming the flag and what is valid)."""
    from swiftk.api import check_command_line

    if len(fields) != len(values):
        raise ValueError(f"{len(values)} values for {len(fields)} fields")
    argv: list[str] = []
    for field, value in zip(fields, values):
        tokens = tokens_of(field, value)
        if tokens is not None:
            argv += [f"--{field.name}", *tokens]
    check_command_line(command, argv)
    return argv


def masked(argv: Sequence[str], fields: Sequence[Field]) -> list[str]:
    """``argv`` with the values of secret arguments (tokens, API keys) replaced by ***, for showing and recording."""
    secrets = {f"--{f.name}" for f in fields if f.info.is_secret}
    out: list[str] = []
    hide = False
    for token in argv:
        if token.startswith("--"):
            hide = token.split("=", 1)[0] in secrets
            out.append(token.split("=", 1)[0] + "=" + SECRET_MASK if hide and "=" in token else token)
        else:
            out.append(SECRET_MASK if hide else token)
    return out


def replace_flag(argv: Sequence[str], name: str, values: Sequence[str]) -> list[str]:
    """``argv`` without any ``--name ...`` and with ``--name values`` appended (resume a run, pick a port)."""
    out: list[str] = []
    skipping = False
    for token in argv:
        if token.startswith("--"):
            skipping = token[2:].split("=", 1)[0].replace("-", "_") == name
        if not skipping:
            out.append(token)
    return [*out, f"--{name}", *values]


def flag_value(argv: Sequence[str], name: str) -> Optional[list[str]]:
    """The values of ``--name`` in ``argv`` (last occurrence), or None when absent."""
    found: Optional[list[str]] = None
    current: Optional[list[str]] = None
    for token in argv:
        if token.startswith("--"):
            key, eq, value = token[2:].partition("=")
            current = [value] if eq else []
            if key.replace("-", "_") == name:
                found = current
            else:
                current = None
        elif current is not None:
            current.append(token)
    return found
