"""Settings for every test of the repository (tests/ and plugins/*/tests), loaded before any test module.

Under pytest-xdist (``make test`` runs two workers, whole files each), the longest files (tests/file_durations.json,
written by scripts/test_file_durations.py from a run's JUnit report) start first, so no long file runs alone at
the end; files not in the table keep their place after them.  Each worker gets its own Hugging Face modules cache:
remote code is copied there under the checkpoint folder's name, so two workers loading different tiny
checkpoints of one name (``internlm2-chat-1_8b``) would otherwise overwrite each other's modeling file
between the copy and the import.  Subprocesses inherit it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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
