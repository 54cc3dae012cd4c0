"""Writing files so that a crash never leaves one half-written, and telling a live run's folder from a dead one's."""

from __future__ import annotations

import os
import re
import shutil
import socket
import tempfile
from typing import Any, Callable, Optional

try:
    import fcntl
except ImportError:  # not POSIX: no run locks
    fcntl = None


def atomic_write_text(path: str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(fd, "w", encoding=encoding) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# --- run folders: which live process owns one, and removing one that never started ---------------

#: the name ``--add_version`` gives a run folder (arguments/derive.py: ``v<N>-<YYYYMMDD-HHMMSS>``)
VERSION_DIR = re.compile(r"v\d+-\d{8}-\d{6}")
#: held (flock) by the process writing into a run folder; the kernel drops it when that process dies, even by
#: SIGKILL, so another run can tell what a dead run left (``.staging``) from what a live one is writing
RUN_LOCK = ".swiftk-run.lock"

_held: dict[str, int] = {}


def hold_run_lock(folder: str) -> None:
    """Mark ``folder`` as written by this process (until :func:`release_run_lock` or its end, however it ends);
    refuse a folder that another live run writes to."""
    key = os.path.realpath(folder)
    if key in _held or fcntl is None:
        return
    os.makedirs(folder, exist_ok=True)
    fd = os.open(os.path.join(folder, RUN_LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        from swiftk.errors import UsageError

        raise UsageError(
            f"--output_dir {folder} is being written by a run still in progress ({owner}); "
            f"wait for it to end or pick another --output_dir"
        ) from None
    except OSError:  # a filesystem without locks: runs are not told apart, nothing is refused
        os.close(fd)
        return
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
    _held[key] = fd


def claim_output_dir(folder: str, save: Optional[Callable[[str], Any]] = None) -> None:
    """In the main process: create ``folder``, hold its run lock (:func:`hold_run_lock`), then ``save(folder)``
    (a run's args.json: after the lock, so a live run's folder is refused, not overwritten); a folder that
    cannot be written is one usage error."""
    from swiftk.run_record import is_main_process

    if not is_main_process():
        return
    try:
        os.makedirs(folder, exist_ok=True)
        hold_run_lock(folder)
        if save is not None:
            save(folder)
    except OSError as exc:
        from swiftk.errors import UsageError

        raise UsageError(f"--output_dir {folder} is not writable: {exc.strerror}") from None


def release_run_lock(folder: str) -> None:
    fd = _held.pop(os.path.realpath(folder), None)
    if fd is not None:
        os.close(fd)


def renew_run_lock(folder: str) -> None:
    """``folder`` was replaced by a rename (an atomic export): hold the new folder's lock if this process
    held the old one's."""
    fd = _held.pop(os.path.realpath(folder), None)
    if fd is not None:
        os.close(fd)
        hold_run_lock(folder)


def run_in_progress(folder: str) -> bool:
    """Whether a live process (this one included) holds ``folder``'s run lock; True when it cannot be told."""
    if os.path.realpath(folder) in _held or fcntl is None:
        return True
    try:
        fd = os.open(os.path.join(folder, RUN_LOCK), os.O_RDWR)
    except FileNotFoundError:
        return False  # no run of this version ever locked it, or it never got that far: nothing of it is live
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # drops the probe's lock too


def discard_unstarted_run(folder: str) -> bool:
    """Remove a ``--add_version`` run folder whose run ended before its first step.

    It holds only ``args.json`` (and perhaps empty logs), yet would look like a run to ``--ckpt_dir``,
    ``load_args`` and whoever lists the versions. A folder with a checkpoint or a summary is kept.
    Returns whether it was removed.
    """
    if not VERSION_DIR.fullmatch(os.path.basename(os.path.normpath(folder))) or not os.path.isdir(folder):
        return False
    names = os.listdir(folder)
    if any(n.startswith("checkpoint-") or n == "run_summary.json" for n in names):
        return False
    release_run_lock(folder)
    if run_in_progress(folder):  # another live process writes there (two runs started in the same second)
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True
