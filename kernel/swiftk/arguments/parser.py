"""Parse a command's arguments: command line, ``--config`` file, then derived defaults.

The parser is built from the command's argument dataclasses (:mod:`swiftk.arguments.commands`)
plus the groups plugins add through ``register_arguments``.  ms-swift's conventions hold: lists
are space-separated (``--dataset a b``), dicts are JSON strings or JSON file paths, booleans are
``true``/``false``.  Every mistake is a :class:`swiftk.errors.UsageError` naming the flag and
what would be valid.
"""

from __future__ import annotations

import difflib
import json
import os
import typing
from typing import Any, Iterable, Literal, Mapping, Optional, Sequence, Union

from swiftk.arguments.aliases import page_name, page_tokens
from swiftk.arguments.fields import ArgInfo, _is_dict, _is_list, _list_item, _strip_optional, arg_infos
from swiftk.errors import MissingPluginError, PluginError, UsageError
from swiftk.hints import distribution_installed

_TRUE = {"true", "1", "yes", "on", "y"}
_FALSE = {"false", "0", "no", "off", "n"}
_NONE = {"none", "null"}


# --- converting one value -----------------------------------------------------------------


def _bool(flag: str, token: str) -> bool:
    low = token.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise UsageError(f"{flag} expects true or false, got '{token}'")


def _json_value(flag: str, token: str) -> Any:
    """A JSON string, or the contents of a JSON file when ``token`` is a path to one."""
    text = token
    source = "value"
    if not token.lstrip().startswith(("{", "[")) and os.path.isfile(token):
        source = f"file {token}"
        with open(token, encoding="utf-8") as f:
            text = f.read()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{flag} expects a JSON object or the path of a JSON file; its {source} is "
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def convert_token(info: ArgInfo, token: str, tp: Any = None) -> Any:
    """Convert one command-line string to the type of ``info`` (or ``tp``)."""
    flag = f"--{info.name}"
    tp = info.type if tp is None else tp
    if typing.get_origin(tp) is Union and type(None) in typing.get_args(tp):
        if token.strip().lower() in _NONE:
            return None
        tp = _strip_optional(tp)
    if tp is bool:
        return _bool(flag, token)
    if tp is int:
        try:
            return int(token)
        except ValueError:
            raise UsageError(f"{flag} expects an integer, got '{token}'") from None
    if tp is float:
        try:
            return float(token)
        except ValueError:
            raise UsageError(f"{flag} expects a number, got '{token}'") from None
    if _is_dict(tp):
        value = _json_value(flag, token)
        if not isinstance(value, dict):
            raise UsageError(f"{flag} expects a JSON object, got {type(value).__name__}: {token}")
        return value
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        for choice in choices:
            if token == str(choice) or (isinstance(choice, bool) and token.lower() == str(choice).lower()):
                return choice
        raise UsageError(f"{flag}: '{token}' is not valid; choose from {', '.join(map(str, choices))}")
    if typing.get_origin(tp) is Union:
        members = typing.get_args(tp)
        for member in members:
            if member is str:
                continue
            if member is bool and token.lower() not in _TRUE | _FALSE:
                continue
            if _is_dict(member) and not token.lstrip().startswith("{"):
                continue
            try:
                return convert_token(info, token, member)
            except UsageError:
                continue
        if str in members:
            return token
        raise UsageError(f"{flag} expects {info.type_name()}, got '{token}'")
    return token


def convert_tokens(info: ArgInfo, tokens: Sequence[str]) -> Any:
    """Convert the tokens that followed ``--name`` on the command line."""
    flag = f"--{info.name}"
    inner = _strip_optional(info.type)
    if _is_list(inner):
        if len(tokens) == 1:
            one = tokens[0].strip()
            if one.startswith("{"):
                raise UsageError(f"{flag} expects a list (space-separated values), got a JSON object: {tokens[0]}")
            if one.startswith("["):
                try:
                    parsed = json.loads(one)
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, list):
                    return coerce_value(info, parsed)
            if one.lower() in _NONE and info.optional:
                return None
        item = _list_item(inner)
        return [convert_token(info, t, item) for t in tokens]
    if not tokens:
        if inner is bool:
            return True  # a bare boolean flag means true
        raise UsageError(f"{flag} expects a value ({info.type_name()})")
    if len(tokens) > 1:
        raise UsageError(f"{flag} takes one value, got {len(tokens)}: {' '.join(tokens)}")
    return convert_token(info, tokens[0])


def coerce_value(info: ArgInfo, value: Any) -> Any:
    """Check and convert a value that came typed (from a YAML/JSON config or a job file)."""
    flag = f"--{info.name}"
    inner = _strip_optional(info.type)
    if value is None:
        return None
    if _is_list(inner):
        if isinstance(value, dict):
            raise UsageError(f"{flag} expects a list, got a mapping: {json.dumps(value)}")
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        item_tp = _list_item(inner)
        return [
            convert_token(info, v, item_tp) if isinstance(v, str) else _check_scalar(info, v, item_tp) for v in items
        ]
    if _is_dict(inner):
        if isinstance(value, str):
            return convert_token(info, value)
        if not isinstance(value, dict):
            raise UsageError(f"{flag} expects a JSON object, got {type(value).__name__}: {value!r}")
        return value
    if isinstance(value, str):
        return convert_token(info, value)
    if isinstance(value, (list, dict)):
        raise UsageError(f"{flag} takes one value ({info.type_name()}), got {type(value).__name__}: {value!r}")
    return _check_scalar(info, value, info.type)


def _check_scalar(info: ArgInfo, value: Any, tp: Any) -> Any:
    """Accept a typed scalar if it fits ``tp`` (int for float is fine, bool for int is not)."""
    return convert_token(info, json.dumps(value) if isinstance(value, bool) else str(value), tp)


# --- the parser ------------------------------------------------------------------------


def split_flags(argv: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``['--a', '1', '2', '--b=3']`` -> ``[('a', ['1', '2']), ('b', ['3'])]``.

    A token starting with ``--`` starts a flag; everything up to the next flag is its values
    (so negative numbers such as ``-0.1`` are values).
    """
    out: list[tuple[str, list[str]]] = []
    for token in argv:
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            out.append((name.replace("-", "_"), [value] if eq else []))
        elif out:
            out[-1][1].append(token)
        else:
            raise UsageError(f"unexpected argument '{token}': arguments are given as --name value")
    return out


#: Arguments that later ms-swift takes as a list on one command where the page's type is one value:
#: ``swift rlhf --loss_type sigmoid bco_pair sft`` (the algorithm's losses, several for DPO's MPO). There they
#: name the trainer's own losses, not registered sft ones: the ``--rlhf_type``'s plugin checks them.
LIST_FORMS: dict[str, dict[str, str]] = {
    "rlhf": {"loss_type": "The algorithm's loss type(s) (dpo: several, weighted by --loss_weights); None: its default."}
}


#: Arguments of one value on the page that later ms-swift takes several of on one command: one value stays one (the
#: page's type, and what args.json records); several become a list, which only the plugins that read them accept
#: (``swift rlhf --rlhf_type grpo --reward_model A B``: one reward per model; PPO refuses several).
SEVERAL_FORMS: dict[str, frozenset[str]] = {
    "rlhf": frozenset({"reward_model", "reward_model_type", "reward_model_revision"}),
}


class CommandParser:
    """The arguments of one command, from its ordered groups (a later group's field wins)."""

    def __init__(self, command: str, groups: Iterable[type]):
        import dataclasses

        self.command = command
        self.groups = list(groups)
        self.infos: dict[str, ArgInfo] = {}
        for group in self.groups:
            for info in arg_infos(group):
                self.infos[info.name] = info
        for name, help_text in LIST_FORMS.get(command, {}).items():
            if name in self.infos:
                self.infos[name] = dataclasses.replace(
                    self.infos[name], type=Optional[list[str]], registry=None, help=help_text
                )

    def defaults(self) -> dict[str, Any]:
        return {name: arg_infos_default(info) for name, info in self.infos.items()}

    def info(self, name: str) -> ArgInfo:
        try:
            return self.infos[name]
        except KeyError:
            raise UsageError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self.infos), n=3, cutoff=0.6)
        hint = (
            f"; did you mean {', '.join('--' + c for c in close)}?"
            if close
            else f"; see `swiftk {self.command} --help`"
        )
        return f"unknown argument --{name} for `swiftk {self.command}`{hint}"

    def parse(
        self, argv: Sequence[str] = (), config: Optional[Mapping[str, Any]] = None, config_name: str = "--config"
    ) -> tuple[dict[str, Any], set[str]]:
        """Values for every argument (defaults, then ``config``, then ``argv``) and the set of
        names the user gave explicitly."""
        values = self.defaults()
        explicit: set[str] = set()
        from swiftk.run_record import RECORD_KEYS

        for name, value in (config or {}).items():
            key = page_name(name.replace("-", "_"), self.infos)
            if key in RECORD_KEYS and key not in self.infos:
                continue  # an args.json given as --config: what that run resolved is not an argument
            if key not in self.infos:
                raise UsageError(f"{config_name}: {self.unknown_message(key)}")
            if self.infos[key].is_secret and value == SECRET_MASK:
                continue  # a masked secret of an args.json: give it again (flag or environment)
            if isinstance(value, list) and key in SEVERAL_FORMS.get(self.command, ()):
                several = [self._validated(self.infos[key], coerce_value(self.infos[key], v)) for v in value]
                values[key] = several[0] if len(several) == 1 else several
            else:
                values[key] = self._validated(self.infos[key], coerce_value(self.infos[key], value))
            explicit.add(key)
        for given, tokens in split_flags(argv):
            name = page_name(given, self.infos)  # a later ms-swift spelling: the page's argument
            info = self.info(name)
            tokens = page_tokens(name, tokens)
            if len(tokens) > 1 and name in SEVERAL_FORMS.get(self.command, ()):
                values[name] = [self._validated(info, convert_tokens(info, [t])) for t in tokens]
            else:
                values[name] = self._validated(info, convert_tokens(info, tokens))
            explicit.add(name)
        for name, info in self.infos.items():
            # a secret given through the environment (SWIFTK_SECRET_HUB_TOKEN): kept off the command line, which
            # every local user can read (ps, /proc/PID/cmdline); the web UI launches runs this way
            secret = os.environ.get(f"SWIFTK_SECRET_{name.upper()}") if info.is_secret else None
            if secret and name not in explicit:
                values[name] = secret
                explicit.add(name)
        return values, explicit

    @staticmethod
    def _validated(info: ArgInfo, value: Any) -> Any:
        if info.registry and value is not None:
            return _validated_against_registry(info, value)
        choices = info.valid_choices()
        if choices and value is not None:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if item not in choices:
                    shown = ", ".join(str(c) for c in choices)
                    raise UsageError(f"--{info.name}: '{item}' is not valid; choose from {shown}")
        return value


def _validated_against_registry(info: ArgInfo, value: Any) -> Any:
    """Values of a registry-backed flag: the documented names or any registered one."""
    from swiftk.host import get_host

    registry = get_host().registry(info.registry)
    known = list(info.valid_choices() or ())
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, str) or item in known or item in registry:
            continue
        valid = known + [n for n in registry.names() if n not in known]
        close = difflib.get_close_matches(item, valid, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise UsageError(
            f"--{info.name}: '{item}' is not valid; {hint}choose from {', '.join(valid) or '(none registered)'}"
            f" or register it in a plugin (--external_plugins)"
        )
    return value


def arg_infos_default(info: ArgInfo) -> Any:
    """A fresh copy of the default (lists and dicts are never shared between parses)."""
    value = info.default
    if isinstance(value, (list, dict)):
        return type(value)(value)
    return value


def check_plugin_arguments(
    parser: CommandParser, values: Mapping[str, Any], explicit: Iterable[str], installed: Optional[set[str]] = None
) -> None:
    """A plugin-owned argument set to a non-default value needs its distribution installed."""
    for name in sorted(explicit):
        info = parser.infos.get(name)
        if info is None or not info.plugin or values.get(name) == info.default:
            continue
        owners = [owner.strip() for owner in info.plugin.split(" or ")]  # "swift-plugin-rlhf or swift-plugin-grpo"
        if not any(owner in installed if installed is not None else distribution_installed(owner) for owner in owners):
            raise MissingPluginError(
                f"--{name} needs {info.plugin}, which is not installed: pip install {owners[0]}", owners[0]
            )


_KNOWN_NAMES: dict[str, Any] = {}


def known_argument_names() -> frozenset:
    """Every argument name of every command, the plugins' argument groups included (cached per host
    and set of registered groups)."""
    from swiftk.arguments.commands import COMMANDS
    from swiftk.host import get_host

    host = get_host()
    groups = host.registry("arguments")
    key = (id(host), tuple(groups.names()))
    if _KNOWN_NAMES.get("key") != key:
        names = {
            info.name for command_groups in COMMANDS.values() for group in command_groups for info in arg_infos(group)
        }
        for entry in groups.entries():
            try:
                names.update(info.name for info in arg_infos(entry.load()))
            except Exception:  # a broken group is reported where it is used, not here
                continue
        _KNOWN_NAMES.update(key=key, names=frozenset(names))
    return _KNOWN_NAMES["names"]


#: What ``--print_args`` and ``args.json`` show for a secret that was given.
SECRET_MASK = "***"


class Arguments:
    """The resolved arguments of one command: attribute access, ``to_dict()`` and ``args.json``."""

    def __init__(
        self,
        command: str,
        values: dict[str, Any],
        explicit: set[str],
        parser: CommandParser,
        given: Optional[Mapping[str, Any]] = None,
    ):
        object.__setattr__(self, "command", command)
        # the values as the user gave them (command line, --config, job file), before args.json and
        # adapter checkpoints filled or replaced any: what the user named, e.g. for remote code
        object.__setattr__(self, "given", dict(given or {}))
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "explicit", explicit)
        object.__setattr__(self, "parser", parser)
        object.__setattr__(self, "record", {})  # what the run resolved (swiftk.run_record), saved in args.json

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "_values")
        try:
            return values[name]
        except KeyError:
            raise AttributeError(f"`swiftk {self.command}` has no argument '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise AttributeError(f"`swiftk {self.command}` has no argument '{name}'")
        self._values[name] = value

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        """The value of ``name``, or ``default`` when this command has no such argument; a name that no
        command and no plugin's argument group defines is a misspelling, and an error."""
        values = self._values
        if name in values:
            return values[name]
        if name not in known_argument_names():
            close = difflib.get_close_matches(name, sorted(known_argument_names()), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise PluginError(
                f"args.get('{name}'): no command and no plugin argument group defines an argument '{name}'{hint}"
            )
        return default

    def to_dict(self) -> dict[str, Any]:
        """Every argument, JSON-serialisable (what ``--print_args`` and ``args.json`` show); a secret
        that was given shows as ``***``."""
        secrets = self.secret_names()
        return {k: SECRET_MASK if k in secrets and v else _jsonable(v) for k, v in self._values.items()}

    def secret_names(self) -> set[str]:
        """The arguments holding tokens or keys, never written or printed in clear."""
        return {name for name, info in self.parser.infos.items() if info.is_secret}

    def group(self, cls: type) -> Any:
        """An instance of the argument dataclass ``cls`` filled with these values."""
        return cls(**{info.name: self._values[info.name] for info in arg_infos(cls) if info.name in self._values})

    def to_record(self) -> dict[str, Any]:
        """What ``args.json`` holds: the command, every argument (unset ones that the run resolved
        filled in: model_type, template, ...), and the run record (see :mod:`swiftk.run_record`)."""
        out: dict[str, Any] = {"command": self.command, **self.to_dict()}
        for name, value in self.record.get("fill", {}).items():
            if name in out and out[name] is None:
                out[name] = _jsonable(value)
        for key in ("model_dir", "resolved", "plugins"):
            if self.record.get(key):
                out[key] = _jsonable(self.record[key])
        return out

    def save(self, folder: str) -> str:
        """Write ``folder/args.json`` atomically; returns its path."""
        from swiftk.io import atomic_write_text

        path = os.path.join(folder, "args.json")
        atomic_write_text(path, json.dumps(self.to_record(), ensure_ascii=False, indent=2) + "\n")
        return path

    def __repr__(self) -> str:
        return f"Arguments({self.command}, {len(self._values)} values)"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)
