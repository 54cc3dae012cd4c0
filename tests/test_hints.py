"""hints.PROVIDERS (which distribution to install for a missing built-in name) matches exactly what the
repository's plugins register, so a missing name never sends a user to a distribution that does not
provide it, or does not exist."""

from __future__ import annotations

import pytest

from swiftk.errors import UsageError
from swiftk.hints import NOT_YET, PROVIDERS
from swiftk.host import PluginHost


def registered_by_our_plugins() -> dict[str, dict[str, str]]:
    host = PluginHost()
    out: dict[str, dict[str, str]] = {}
    for info in host.plugin_infos():
        if not (info.distribution or "").startswith("swift-plugin-"):
            continue
        for kind, names in info.registers.items():
            if kind == "arguments":  # argument groups are not names a user types
                continue
            for name in names:
                out.setdefault(kind, {})[name] = info.distribution
    return out


def test_providers_are_what_the_plugins_register():
    assert PROVIDERS == registered_by_our_plugins()


def test_names_without_a_plugin_yet_say_so(monkeypatch):
    """A page name no plugin implements yet says so rather than naming a distribution (every command has one now,
    so the mechanism is checked with a stand-in entry)."""
    monkeypatch.setitem(NOT_YET, "commands", {"fly": "`swiftk fly` is not implemented by any swiftk plugin yet"})
    host = PluginHost(autoload=False)
    with pytest.raises(UsageError, match="`swiftk fly` is not implemented by any swiftk plugin yet"):
        host.get("commands", "fly")
