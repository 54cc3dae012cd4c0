"""Declaring command-line arguments as dataclass fields.

Every argument of every command is a field of a plain dataclass declared with :func:`arg`.
The field's annotation gives its type (what the parser accepts), the :func:`arg` metadata
gives its one-line help, whether it is a 🔥 parameter, its valid choices and, for plugin-owned
arguments, the distribution that gives it meaning.  ``--help``, ``--print_args``, ``args.json``
and the seed-page contract test all read this one description.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import MISSING, dataclass, field
from typing import Any, Callable, Literal, Optional, Sequence, Union

__all__ = ["arg", "ArgInfo", "arg_infos", "section_of"]

_META_KEY = "swiftk"


def arg(
    default: Any = None,
    help: str = "",
    *,
    hot: bool = False,
    choices: Optional[Sequence[Any]] = None,
    plugin: Optional[str] = None,
    metavar: Optional[str] = None,
    registry: Optional[str] = None,
) -> Any:
    """A dataclass field that is a command-line argument.

    default: the value when the flag is absent; ``list`` or ``dict`` (the types themselves)
        mean an empty list/dict per instance.
    help: one line in English saying what the argument means.
    hot: a 🔥 parameter of the seed page, listed first in ``--help``.
    choices: the valid values; a value outside them is a usage error naming them.
    plugin: the distribution (``swift-plugin-galore``) that gives the argument meaning, or several
        joined by " or " when any one of them does;
        setting a non-default value without it installed is an error naming it.
    registry: the registry kind (``"rewards"``) whose names are also valid values, so that a
        name a plugin or a ``--external_plugins`` file registers is accepted (and a misspelled
        one is refused with suggestions).
    """
    meta = {
        _META_KEY: {
            "help": help,
            "hot": hot,
            "choices": tuple(choices) if choices else None,
            "plugin": plugin,
            "metavar": metavar,
            "registry": registry,
        }
    }
    if default is list or default is dict:
        return field(default_factory=default, metadata=meta)
    if isinstance(default, (list, dict, set)):
        value = default
        return field(default_factory=lambda: type(value)(value), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ArgInfo:
    """Everything the parser and the help formatter know about one argument."""

    name: str
    type: Any  # the resolved annotation
    default: Any  # the default value (a fresh copy for lists/dicts)
    help: str
    hot: bool
    choices: Optional[tuple]
    plugin: Optional[str]
    metavar: Optional[str]
    registry: Optional[str]
    section: str  # the group's English title, e.g. "Model arguments"
    owner: type  # the dataclass that declares it

    @property
    def is_list(self) -> bool:
        return _is_list(_strip_optional(self.type))

    @property
    def is_dict(self) -> bool:
        return _is_dict(_strip_optional(self.type))

    @property
    def is_bool(self) -> bool:
        return _strip_optional(self.type) is bool

    @property
    def is_secret(self) -> bool:
        """A token or key (``hub_token``, ``api_key``, ``swanlab_token``, ...): a text argument named
        ``*_token``/``*_key``, never written or printed in clear (``vera_projection_prng_key`` is a number)."""
        return self.name.endswith(("_token", "_key")) and _strip_optional(self.type) is str

    @property
    def optional(self) -> bool:
        return _is_optional(self.type)

    def type_name(self) -> str:
        """A short human word for the type, used in help and errors."""
        return _type_name(self.type)

    def valid_choices(self) -> Optional[tuple]:
        """Explicit choices, or those of a ``Literal`` annotation."""
        if self.choices:
            return self.choices
        inner = _strip_optional(self.type)
        if _is_list(inner):
            inner = _list_item(inner)
        if typing.get_origin(inner) is Literal:
            return typing.get_args(inner)
        return None


def section_of(cls: type) -> str:
    """The English section title of an argument group (its ``SECTION`` or class name)."""
    return getattr(cls, "SECTION", None) or cls.__name__


def arg_infos(cls: type) -> list[ArgInfo]:
    """The :class:`ArgInfo` of every field of an argument dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_"):
            continue
        meta = f.metadata.get(_META_KEY, {})
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        out.append(
            ArgInfo(
                name=f.name,
                type=hints.get(f.name, Any),
                default=default,
                help=meta.get("help", ""),
                hot=meta.get("hot", False),
                choices=meta.get("choices"),
                plugin=meta.get("plugin"),
                metavar=meta.get("metavar"),
                registry=meta.get("registry"),
                section=section_of(cls),
                owner=cls,
            )
        )
    return out


# --- annotation helpers -------------------------------------------------------------------


def _is_optional(tp: Any) -> bool:
    return typing.get_origin(tp) is Union and type(None) in typing.get_args(tp)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) is Union:
        args = tuple(a for a in typing.get_args(tp) if a is not type(None))
        return args[0] if len(args) == 1 else Union[args]  # type: ignore[return-value]
    return tp


def _is_list(tp: Any) -> bool:
    return tp in (list, tuple, typing.List) or typing.get_origin(tp) in (list, tuple)


def _list_item(tp: Any) -> Any:
    args = typing.get_args(tp)
    return args[0] if args else str


def _is_dict(tp: Any) -> bool:
    return tp in (dict, typing.Dict) or typing.get_origin(tp) is dict


def _type_name(tp: Any) -> str:
    tp = _strip_optional(tp)
    if tp is bool:
        return "bool"
    if tp is int:
        return "int"
    if tp is float:
        return "float"
    if tp is str:
        return "str"
    if _is_dict(tp):
        return "json"
    if _is_list(tp):
        return f"list[{_type_name(_list_item(tp))}]"
    if typing.get_origin(tp) is Literal:
        return "choice"
    if typing.get_origin(tp) is Union:
        return "|".join(_type_name(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", str(tp))


Converter = Callable[[str], Any]
