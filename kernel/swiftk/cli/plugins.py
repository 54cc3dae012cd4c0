"""``swiftk plugins``: every plugin, its distribution and what it registers."""

from __future__ import annotations

import json
import sys


def show_plugins(as_json: bool) -> int:
    from swiftk.host import get_host

    host = get_host()
    infos = host.plugin_infos()
    if as_json:
        sys.stdout.write(json.dumps([i.as_json() for i in infos], ensure_ascii=False, indent=2) + "\n")
        return 0
    if not infos:
        sys.stdout.write("No plugins loaded. Install one, e.g. pip install swift-plugin-sft\n")
    for info in infos:
        where = f"{info.distribution} {info.version}" if info.distribution else info.source
        sys.stdout.write(f"{info.name} ({where})\n")
        for kind, names in info.registers.items():
            sys.stdout.write(f"  {kind}: {', '.join(names)}\n")
        if not info.registers:
            sys.stdout.write("  (registers no names; implements pipeline hooks only)\n")
    for failed in host.failed.values():
        where = f"{failed.distribution} {failed.version}" if failed.distribution else failed.source
        sys.stdout.write(f"{failed.name} ({where}): FAILED to load: {failed.error}\n")
    return 0
