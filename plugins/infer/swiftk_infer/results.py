"""``--result_path``: results as jsonl, one whole line per write.

``append_jsonl`` serves the terminal chat (one line per turn); :class:`JsonlWriter` serves
``swiftk deploy``, where many requests finish at once: the event loop only queues the record, and
one writer thread owns the file, so lines never interleave and no request waits on the disk.
"""

from __future__ import annotations

import json
import os
import queue
import threading
from typing import Any


def _line(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def append_jsonl(path: str, record: Any) -> None:
    """Append ``record`` as one line (the folder is made on the first write)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(_line(record))


class JsonlWriter:
    """Appends records to ``path`` from a single daemon thread; ``append`` never blocks."""

    _DONE = object()

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, daemon=True, name="swiftk-result-writer")
        self._thread.start()

    def append(self, record: Any) -> None:
        self._queue.put(record)

    def _run(self) -> None:
        while True:
            record = self._queue.get()
            if record is self._DONE:
                return
            try:
                self._file.write(_line(record))
                self._file.flush()
            except Exception as exc:  # a record json cannot write: report it, keep serving
                print(f"[swiftk] result_path: a record was not written ({type(exc).__name__}: {exc})", flush=True)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then close the file."""
        self._queue.put(self._DONE)
        self._thread.join(timeout)
        self._file.close()
