"""Settings for every test of the repository (tests/ and plugins/*/tests), loaded before any test module.

Under pytest-xdist (``make test`` runs two workers), each worker gets its own Hugging Face modules cache:
remote code is copied there under the checkpoint folder's name, so two workers loading different tiny
checkpoints of one name (``internlm2-chat-1_8b``) would otherwise overwrite each other's modeling file
between the copy and the import.  Subprocesses inherit it.
"""

from __future__ import annotations

import os
import tempfile


def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and "HF_MODULES_CACHE" not in os.environ:
        os.environ["HF_MODULES_CACHE"] = tempfile.mkdtemp(prefix=f"swiftk-hf-modules-{worker}-")
