"""Helpers for testing swiftk plugins (the pytest fixtures live in :mod:`swiftk.testing.fixtures`).

Installed with the kernel as a pytest plugin, so a plugin's own test suite gets:

* ``swiftk_host``: a fresh :class:`swiftk.host.PluginHost` (entry points still load lazily) set
  as the process-wide host for the test, then the previous host is restored;
* ``bare_swiftk_host``: the same without any entry point, for tests that want only their plugin;
* ``register_plugin``: ``register_plugin(obj, name=None)`` adds a plugin object to the test's host;
* ``one_torch_thread``: torch on one thread for a module's training tests.

Contract suites, the tests a plugin's names should pass (subclass one, name what you register):
:mod:`swiftk.testing.tuners` (``TunerContract``), :mod:`swiftk.testing.rewards` (``RewardContract``),
:mod:`swiftk.testing.metrics` (``MetricContract``), :mod:`swiftk.testing.losses` (``LossContract``),
:mod:`swiftk.testing.templates` (``TemplateContract``), :mod:`swiftk.testing.datasets`
(``DatasetContract``), :mod:`swiftk.testing.engines` (``EngineContract``), :mod:`swiftk.testing.models`
(``ModelContract``), :mod:`swiftk.testing.optimizers` (``OptimizerContract``),
:mod:`swiftk.testing.callbacks` (``CallbackContract``) and :mod:`swiftk.testing.quantizers`
(``QuantizerContract``).
"""

from __future__ import annotations

from typing import Any, Optional

from swiftk.host import PluginHost, get_host, reset_host


class HostScope:
    """Install a host for the duration of a ``with`` block (what the fixtures use)."""

    def __init__(self, autoload: Optional[bool] = True):
        self.host = PluginHost(autoload=autoload)
        self._previous: Optional[PluginHost] = None

    def __enter__(self) -> PluginHost:
        import swiftk.host as host_module

        self._previous = host_module._HOST
        reset_host(self.host)
        return self.host

    def __exit__(self, *exc: Any) -> None:
        import swiftk.host as host_module

        host_module._HOST = self._previous


__all__ = ["HostScope", "get_host", "reset_host"]
