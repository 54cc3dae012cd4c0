"""Load ``.py`` files as plugins (``--custom_register_path`` and ``--external_plugins``).

Each file is executed under a unique module name, with its folder on ``sys.path`` only while
it runs, and with the ms-swift facades of :mod:`swiftk.compat.mswift` in place, then registered
with the host like any plugin.  A file may define hooks (``@swiftk.hookimpl def register_rewards``),
make ms-swift style registrations, or both.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from typing import Iterable

from swiftk.compat.mswift import Collector, facade
from swiftk.errors import PluginError, UsageError
from swiftk.host import PluginHost


def _module_name(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    safe = "".join(c if c.isalnum() or c == "_" else "_" for c in stem)
    digest = hashlib.sha1(path.encode()).hexdigest()[:10]
    return f"swiftk_external_{safe}_{digest}"


def _raise_location(path: str, exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc`` inside ``path``."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == path:
            line = frame.lineno
    if isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    return f"{path}:{line}" if line else path


def load_plugin_file(host: PluginHost, path: str, flag: str = "--external_plugins") -> str:
    """Execute ``path`` and register it with ``host``; returns the plugin name (the path).

    Loading the same file twice is a no-op.
    """
    abspath = os.path.abspath(os.path.expanduser(path))
    if host.plugin_info(abspath) is not None:
        return abspath
    if not os.path.isfile(abspath):
        raise UsageError(f"{flag}: no such file: {path}")
    if not abspath.endswith(".py"):
        raise UsageError(f"{flag}: {path} is not a .py file")
    name = _module_name(abspath)
    spec = importlib.util.spec_from_file_location(name, abspath)
    if spec is None or spec.loader is None:
        raise UsageError(f"{flag}: cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(abspath)
    collector = Collector()
    sys.modules[name] = module
    sys.path.insert(0, folder)
    try:
        with facade(collector, host):
            spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise PluginError(f"{flag}: {_raise_location(abspath, exc)} raised {type(exc).__name__}: {exc}") from exc
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    host.register_plugin(module, abspath, source=abspath, static=collector.entries)
    return abspath


def load_plugin_files(host: PluginHost, paths: Iterable[str], flag: str) -> list[str]:
    """Load several files in order; see :func:`load_plugin_file`."""
    return [load_plugin_file(host, p, flag) for p in paths]
