"""One :class:`Registry` per kind of thing plugins provide (models, rewards, commands, ...).

An entry remembers the plugin that registered it.  Its value may be a lazy reference
``"package.module:attribute"``, imported on first :meth:`Entry.load`, so that listing and
validating names never imports heavy libraries.
"""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from swiftk.errors import PluginError, UsageError
from swiftk.hookspecs import KIND_LABELS

_LAZY_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_lazy_reference(value: Any) -> bool:
    """True for strings of the form ``"package.module:attribute"``."""
    return isinstance(value, str) and bool(_LAZY_REF.match(value))


def load_reference(value: Any) -> Any:
    """``value`` itself, or the object a lazy reference ``"package.module:attr"`` names (imported now)."""
    return resolve_reference(value) if is_lazy_reference(value) else value


def resolve_reference(ref: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the attribute."""
    module_name, _, attr_path = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Entry:
    """One registered name: its value (maybe lazy), the plugin that registered it, and its meta."""

    kind: str
    name: str
    value: Any
    plugin: str
    meta: dict[str, Any] = field(default_factory=dict)
    _loaded: Any = field(default=None, repr=False)
    _is_loaded: bool = field(default=False, repr=False)

    def load(self) -> Any:
        """The registered object, importing a lazy reference on first use."""
        if not self._is_loaded:
            if is_lazy_reference(self.value):
                try:
                    self._loaded = resolve_reference(self.value)
                except Exception as exc:  # name the plugin and the reference in the error
                    raise PluginError(
                        f"plugin '{self.plugin}' registered {KIND_LABELS.get(self.kind, (self.kind,))[0]} "
                        f"'{self.name}' as '{self.value}', which cannot be imported: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
            else:
                self._loaded = self.value
            self._is_loaded = True
        return self._loaded


class Registry:
    """Names of one kind, each with the plugin that registered it.

    Unknown names raise a :class:`UsageError` that suggests close names, the distribution to
    install for a known built-in name, or the import failure of the plugin that provides it.
    """

    def __init__(self, kind: str, explain_missing: Optional[Callable[[str, str], Optional[str]]] = None):
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        self._explain_missing = explain_missing

    # -- filling --------------------------------------------------------------------------
    def add(self, name: str, value: Any, plugin: str, **meta: Any) -> Entry:
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"plugin '{plugin}' called register_{self.kind} with a name that is not a non-empty string: {name!r}"
            )
        if value is None:
            raise PluginError(f"plugin '{plugin}' registered {self.label} '{name}' with the value None")
        existing = self._entries.get(name)
        if existing is not None:
            raise PluginError(
                f"{self.label} '{name}' is registered twice: by plugin "
                f"'{existing.plugin}' and by plugin '{plugin}'; disable one of them "
                f"(SWIFTK_DISABLED_PLUGINS) or rename"
            )
        entry = Entry(self.kind, name, value, plugin, dict(meta))
        self._entries[name] = entry
        return entry

    def remove(self, name: str, plugin: str) -> None:
        """Drop ``name`` if ``plugin`` registered it (a skipped plugin, or an overridden entry)."""
        entry = self._entries.get(name)
        if entry is not None and entry.plugin == plugin:
            del self._entries[name]

    # -- reading --------------------------------------------------------------------------
    def entry_or_none(self, name: str) -> Optional[Entry]:
        return self._entries.get(name)

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, (self.kind, None))[0]

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` for ``name``, or a :class:`UsageError` saying what would be valid."""
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(self.missing_message(name)) from None

    def get(self, name: str) -> Any:
        """The object registered as ``name`` (lazy references are imported now)."""
        return self.entry(name).load()

    def missing_message(self, name: str) -> str:
        flag = KIND_LABELS.get(self.kind, (None, None))[1]
        head = f"unknown {self.label} '{name}'" + (f" (given to {flag})" if flag else "")
        explained = self._explain_missing(self.kind, name) if self._explain_missing else None
        if explained:
            return f"{head}: {explained}"
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.6)
        if close:
            return f"{head}; did you mean {', '.join(repr(c) for c in close)}?"
        if self._entries:
            shown = sorted(self._entries)
            more = f", ... ({len(shown)} in all; `swiftk plugins` lists them)" if len(shown) > 20 else ""
            return f"{head}; valid: {', '.join(shown[:20])}{more}"
        return f"{head}; no {self.label} is registered (is the plugin that provides it installed? `swiftk plugins` lists what is)"
