"""swift-kernel: a plugin kernel to fine-tune, align, run, serve, evaluate and export LLMs.

Plugins implement hooks marked with :data:`hookimpl`; the kernel finds them through the
``swiftk`` entry-point group.  Importing this package is cheap: torch and transformers are
only imported by the code paths that need them.
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

#: Bumped when a hook's signature changes incompatibly; plugins may check it.
HOOK_API_VERSION = 1

PROJECT_NAME = "swiftk"

#: Marks a function as a hook implementation: ``@swiftk.hookimpl def register_rewards(register): ...``
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


def get_host():
    """The process-wide :class:`swiftk.host.PluginHost` (created on first use)."""
    from swiftk.host import get_host as _get_host

    return _get_host()


__all__ = ["hookimpl", "get_host", "__version__", "HOOK_API_VERSION"]
