"""hints.PROVIDERS (which distribution to install for a missing built-in name) matches exactly what the
repository's plugins register, so a missing name never sends a user to a distribution that does not
provide it, or does not exist."""

from __future__ import annotations

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


def test_names_without_a_plugin_yet_say_so(swiftk):
    for name in NOT_YET["commands"]:
        result = swiftk(name)
        assert result.returncode == 2
        assert f"`swiftk {name}` is not implemented by any swiftk plugin yet" in result.stderr
        assert "pip install" not in result.stderr
