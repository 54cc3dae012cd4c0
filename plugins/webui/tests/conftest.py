"""Shared fixtures of the webui tests: a headless chromium (Playwright) and gradio pages on a free loopback port.

Both `swiftk app` and `swiftk web-ui` tests use them; the browser is started once per session (about 1 s) and
each test opens its own page (``browser.new_page()``), so tests stay independent without paying for a launch.
"""

from __future__ import annotations

import os
import socket
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
#: where screenshots go when set (CI uploads the folder as an artifact); else each test's tmp_path
ARTIFACTS_ENV = "SWIFTK_WEBUI_ARTIFACTS"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0, proc: Any = None) -> None:
    """Wait until `url` answers an HTTP GET (any status below 500); fail early if `proc` has exited."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except Exception as exc:  # not listening yet
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s: {last}")


@contextmanager
def serve_blocks(demo: Any, **launch_kwargs: Any) -> Iterator[str]:
    """Launch a gradio Blocks on 127.0.0.1 and a free port in this process; yield its URL; close it after."""
    launch_kwargs.setdefault("ssr_mode", False)
    launch_kwargs.setdefault("quiet", True)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, inbrowser=False, **launch_kwargs)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url)
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="session")
def gradio_server():
    """``gradio_server(blocks, **launch_kwargs)``: a context manager serving `blocks`, yielding its URL."""
    return serve_blocks


@pytest.fixture
def artifacts_dir(request: Any, tmp_path: Path) -> Path:
    """Where a test saves its screenshots: $SWIFTK_WEBUI_ARTIFACTS/<test name> when set, else tmp_path."""
    root = os.environ.get(ARTIFACTS_ENV)
    if not root:
        return tmp_path
    folder = Path(root) / request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium driven by Playwright, shared by a test file's tests; skipped when either is missing.

    Module scope, not session: while ``sync_playwright`` is open its event loop counts as running in the main
    thread, so any later test file on the same xdist worker that calls ``asyncio.run`` would fail."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install 'swift-plugin-webui[test]')")
    # Playwright's default of 5 s per assertion fails a busy CI box (two workers, each running a model) now and then
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser page (1200x800) for one test, closed after it."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


# --- `swiftk app` ----------------------------------------------------------------------------------------------


def resolve_app_args(*argv: str) -> Any:
    """The resolved arguments of ``swiftk app ARGV`` (as the command line gives them to run_app)."""
    from swiftk.cli.builtin import resolve_arguments

    return resolve_arguments("app", list(argv))


@pytest.fixture(scope="session")
def app_args() -> Any:
    """``app_args(*argv)``: the resolved arguments of ``swiftk app ARGV``."""
    return resolve_app_args


@pytest.fixture(scope="session")
def tiny_backend(tmp_path_factory: Any) -> Iterator[Any]:
    """The demo model (swiftk/tiny-chat) served in this process as `swiftk app` serves it, once per session."""
    from swiftk_webui.app.backend import Backend

    results = tmp_path_factory.mktemp("app-results") / "results.jsonl"
    args = resolve_app_args("--model", "swiftk/tiny-chat", "--verbose", "false", "--result_path", str(results))
    backend = Backend(args).start()
    try:
        backend.wait(120)
        yield backend
    finally:
        backend.close()
