"""pytest fixtures for swiftk plugin authors (registered through the ``pytest11`` entry point).

Kept import-light: importing this module costs nothing heavy, so every pytest run on a machine
with swift-kernel installed stays fast.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

import pytest


@pytest.fixture
def swiftk_host() -> Iterator[Any]:
    """A fresh plugin host, with installed entry points, for one test."""
    from swiftk.testing import HostScope

    with HostScope(autoload=True) as host:
        yield host


@pytest.fixture
def bare_swiftk_host() -> Iterator[Any]:
    """A fresh plugin host that loads no entry point, for one test."""
    from swiftk.testing import HostScope

    with HostScope(autoload=False) as host:
        yield host


@pytest.fixture
def register_plugin(request: Any) -> Callable[..., str]:
    """``register_plugin(obj, name=None)``: add a plugin object to this test's host: the bare one when
    the test also asks for ``bare_swiftk_host`` (only its own plugins), else ``swiftk_host``."""
    wanted = "bare_swiftk_host" if "bare_swiftk_host" in request.fixturenames else "swiftk_host"
    host = request.getfixturevalue(wanted)

    def _register(plugin: Any, name: Optional[str] = None, **kwargs: Any) -> str:
        return host.register_plugin(plugin, name, **kwargs)

    return _register


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for a module's tests (training tests share a small machine's cores; threads
    fighting over them make a run many times slower), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
