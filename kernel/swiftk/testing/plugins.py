"""A fresh host with the plugins a contract suite tests, for the duration of a ``with`` block."""

from __future__ import annotations

import contextlib
import importlib
import os
from typing import Any, Iterator, Sequence

__all__ = ["host_with"]


@contextlib.contextmanager
def host_with(plugins: Sequence[str] = (), autoload: bool = True) -> Iterator[Any]:
    """A fresh process-wide host (installed plugins loaded unless ``autoload`` is false) plus ``plugins``:
    ``.py`` files (as ``--external_plugins`` loads them) or importable module names."""
    from swiftk.external import load_plugin_file
    from swiftk.testing import HostScope

    with HostScope(autoload=autoload) as host:
        for plugin in plugins:
            if plugin.endswith(".py") or os.sep in plugin:
                load_plugin_file(host, plugin, flag="plugins")
            else:
                host.register_plugin(importlib.import_module(plugin), plugin)
        yield host
