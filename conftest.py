"""Settings for every test of the repository (tests/ and plugins/*/tests), loaded before any test module.

Under pytest-xdist (``make test`` runs two workers, whole files each), the longest files (tests/file_durations.json,
written by scripts/test_file_durations.py from a run's JUnit report) start first, so no long file runs alone at
the end; files not in the table keep their place after them.  Each worker gets its own Hugging Face modules cache:
remote code is copied there under the checkpoint folder's name, so two workers loading different tiny
checkpoints of one name (``internlm2-chat-1_8b``) would otherwise overwrite each other's modeling file
between the copy and the import.  Subprocesses inherit it.  A test file that leaves an asyncio event loop running
in the main thread (an open Playwright sync context does) fails its last test's teardown, rather than every later
file on that worker that calls ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

import pytest

_DURATIONS = Path(__file__).resolve().parent / "tests" / "file_durations.json"


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "HF_MODULES_CACHE" not in os.environ:
        os.environ["HF_MODULES_CACHE"] = tempfile.mkdtemp(prefix=f"swiftk-hf-modules-{worker}-")


def pytest_collection_modifyitems(session, config, items):
    """Longest test files first (a stable sort: the order within a file is kept)."""
    if not _DURATIONS.is_file():
        return
    seconds = json.loads(_DURATIONS.read_text())
    root = Path(str(config.rootpath))

    def key(item) -> float:
        try:
            name = Path(str(item.path)).resolve().relative_to(root).as_posix()
        except ValueError:
            return 0.0
        return -float(seconds.get(name, 0.0))

    items.sort(key=key)


#: running loops already reported by pytest_runtest_teardown
_REPORTED_LOOPS: set = set()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After a file's last test: no event loop may still be running in this thread."""
    result = yield
    if nextitem is None or nextitem.path != item.path:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return result
        if id(loop) in _REPORTED_LOOPS:  # blamed once, on the file that left it (a later file did not)
            return result
        _REPORTED_LOOPS.add(id(loop))
        raise RuntimeError(
            f"{item.path.name} left an asyncio event loop running in the main thread (an open Playwright "
            "sync context, a loop started and never stopped): close it in the file's own fixtures"
        )
    return result
