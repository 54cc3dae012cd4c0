"""The output jsonl, written so that nothing half-done is ever taken for a result.

Lines go to ``<file>.partial``, one batch at a time, each batch followed by ``<file>.state.json`` (batches
done, bytes written, what was sampled). The file takes its name only when the last batch is in. With
``--resume``, a run continues after the last recorded batch, cutting off whatever an interruption left
half-written; without it, an old ``.partial`` is started over.
"""

from __future__ import annotations

import json
import os
from typing import Any


class SampleOutput:
    def __init__(self, path: str, fingerprint: dict[str, Any]):
        self.path = path
        self.partial = path + ".partial"
        self.state_path = path + ".state.json"
        self.fingerprint = fingerprint

    def resume_point(self, resume: bool) -> tuple[int, int]:
        """(batches, bytes) already written by the run ``--resume`` continues; (0, 0) otherwise. Reads only,
        so that a resume of another job is refused before anything loads or is written."""
        from swiftk.api import UsageError

        if not (resume and os.path.isfile(self.state_path) and os.path.isfile(self.partial)):
            return 0, 0
        with open(self.state_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("job") != self.fingerprint:
            raise UsageError(
                f"--resume: {self.partial} was sampled for another job "
                f"({_differs(state.get('job'), self.fingerprint)}); rerun that job, or drop --resume to start over"
            )
        return int(state["batches"]), int(state["bytes"])

    def start(self, point: tuple[int, int]) -> int:
        """Open the partial file at ``point`` (cutting off a half-written batch); the batches to skip."""
        done, size = point
        with open(self.partial, "ab") as f:
            f.truncate(size)
        if done:
            print(f"[swiftk] --resume: {done} batches already in {self.partial}, continuing", flush=True)
        return done

    def append(self, batches_done: int, lines: list[dict]) -> None:
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        with open(self.partial, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        state = {"job": self.fingerprint, "batches": batches_done, "bytes": size}
        tmp = self.state_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, self.state_path)

    def finish(self) -> None:
        os.replace(self.partial, self.path)
        if os.path.exists(self.state_path):
            os.remove(self.state_path)


def _differs(old: Any, new: dict[str, Any]) -> str:
    if not isinstance(old, dict):
        return "no record of it"
    keys = [k for k in new if old.get(k) != new[k]]
    return ", ".join(f"{k} {old.get(k)!r} then, {new[k]!r} now" for k in keys) or "another job"


_locks: dict[str, int] = {}


def lock_output(path: str) -> None:
    """Hold ``<file>.lock`` while this process writes ``path``: two runs writing one file are refused (runs
    writing other files of one folder, like the shards of ``--data_range``, are not)."""
    from swiftk.api import UsageError

    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks
        return
    fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UsageError(f"--output_file {os.path.basename(path)}: another live run is writing {path}") from None
    _locks[path] = fd


def release_output(path: str) -> None:
    """Let go of ``path``'s lock and remove the lock file (the partial file and its state stay, for --resume)."""
    fd = _locks.pop(path, None)
    if fd is None:
        return
    try:
        os.remove(path + ".lock")
    except OSError:
        pass
    os.close(fd)
