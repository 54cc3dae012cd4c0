"""Where intermediate Arrow files go: a persistent cache with ``--enable_cache true``, else a
temporary folder removed when the process exits (so a changed file is never served stale and
nothing is left behind by default)."""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Optional

#: Bumped when the reading or preprocessing output changes, so old cache files are not reused.
FORMAT_VERSION = "1"

_TEMP_ROOT: Optional[str] = None


def fingerprint(*parts: Any) -> str:
    """A stable hash of JSON-able (or repr-able) parts."""
    text = json.dumps([FORMAT_VERSION, *parts], sort_keys=True, default=repr, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


def file_fingerprint(path: str) -> list:
    """Identity of a file's content without reading it: path, size and modification time."""
    st = os.stat(path)
    return [os.path.abspath(path), st.st_size, st.st_mtime_ns]


def _temp_root() -> str:
    global _TEMP_ROOT
    if _TEMP_ROOT is None or not os.path.isdir(_TEMP_ROOT):
        _TEMP_ROOT = tempfile.mkdtemp(prefix="swiftk-datasets-")
        atexit.register(shutil.rmtree, _TEMP_ROOT, True)
    return _TEMP_ROOT


class Cache:
    """Paths of the Arrow files one run writes."""

    def __init__(self, enabled: bool, root: Optional[str] = None):
        self.enabled = enabled
        if root is None and enabled:
            from datasets import config

            root = os.path.join(str(config.HF_DATASETS_CACHE), "swiftk")
        self._root = root

    @property
    def root(self) -> str:
        root = self._root or _temp_root()
        os.makedirs(root, exist_ok=True)
        return root

    def path(self, kind: str, key: str, suffix: str = ".arrow") -> str:
        folder = os.path.join(self.root, kind)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, key + suffix)
