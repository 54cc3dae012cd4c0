"""Checkpoint folders that are complete or absent, whatever kills the run, and the ``best``/``last`` symlinks.

- Writing: the Trainer writes a checkpoint into ``output_dir/.staging/checkpoint-N``; only when every
  file is there is it renamed to ``output_dir/checkpoint-N`` (a rename is atomic on one filesystem).
- Deleting (``--save_total_limit``, a stale checkpoint of the same step): the folder is first renamed
  to ``output_dir/.trash-checkpoint-N``, then removed, so a kill during the removal leaves a trash
  folder, never a ``checkpoint-N`` missing half its files.
- What a killed run leaves (``.staging``, ``.trash-*``) is removed when the next run starts in that
  folder or, for ``--add_version`` folders, in a sibling ``vN-...`` folder whose run is not alive.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from typing import Optional

from swiftk.api import VERSION_DIR, run_in_progress

STAGING = ".staging"
TRASH = ".trash-"


def staging_dir(output_dir: str) -> str:
    return os.path.join(output_dir, STAGING)


def remove(path: str) -> None:
    """Delete a checkpoint folder: renamed out of the ``checkpoint-*`` names first, then removed."""
    if not os.path.lexists(path):
        return
    trash = os.path.join(os.path.dirname(path), TRASH + os.path.basename(path))
    shutil.rmtree(trash, ignore_errors=True)  # one a killed run left
    os.replace(path, trash)
    shutil.rmtree(trash, ignore_errors=True)


def publish(staged: str, final: str) -> None:
    """Move a finished staged checkpoint into place (replacing a stale one of the same step)."""
    remove(final)
    os.replace(staged, final)
    _remove_if_empty(os.path.dirname(staged))


def discard(staged: str) -> None:
    """Remove a checkpoint whose save failed (what it wrote, and the staging folder once empty)."""
    shutil.rmtree(staged, ignore_errors=True)
    _remove_if_empty(os.path.dirname(staged))


def _remove_if_empty(folder: str) -> None:
    try:
        os.rmdir(folder)
    except OSError:
        pass


def clean_stale(output_dir: str) -> None:
    """Remove the staging and trash folders of killed runs: this folder's, and for a ``vN-<time>`` folder,
    those of its sibling versions whose run is no longer alive (a resumed run gets a new version)."""
    folders = [output_dir]
    parent, name = os.path.split(os.path.normpath(output_dir))
    if VERSION_DIR.fullmatch(name) and os.path.isdir(parent or "."):
        folders += [
            os.path.join(parent, n)
            for n in sorted(os.listdir(parent or "."))
            if n != name and VERSION_DIR.fullmatch(n) and not run_in_progress(os.path.join(parent, n))
        ]
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        for entry in os.listdir(folder):
            if entry == STAGING or entry.startswith(TRASH):
                shutil.rmtree(os.path.join(folder, entry), ignore_errors=True)


def rotate(output_dir: str, save_total_limit: Optional[int], best: Optional[str]) -> None:
    """transformers' ``rotate_checkpoints`` (keep the ``save_total_limit`` newest, the newest and the best
    always), deleting through :func:`remove`."""
    if save_total_limit is None or save_total_limit <= 0:
        return
    found = checkpoints(output_dir)
    protected = {os.path.basename(p) for p in found[-1:]}
    if best and os.path.basename(os.path.normpath(best)) in {os.path.basename(p) for p in found}:
        protected.add(os.path.basename(os.path.normpath(best)))
    excess = len(found) - max(save_total_limit, len(protected))
    for path in found:
        if excess <= 0:
            break
        if os.path.basename(path) not in protected:
            remove(path)
            excess -= 1


def checkpoints(output_dir: str) -> list[str]:
    """``checkpoint-N`` folders of a run, oldest step first."""
    if not os.path.isdir(output_dir):
        return []
    found = []
    for name in os.listdir(output_dir):
        m = re.fullmatch(r"checkpoint-(\d+)", name)
        if m and os.path.isdir(os.path.join(output_dir, name)):
            found.append((int(m.group(1)), os.path.join(output_dir, name)))
    return [p for _, p in sorted(found)]


def disk_full(exc: BaseException, folder: str) -> bool:
    """Whether a failed save ran out of space. torch.save says only "unexpected pos ..." (a RuntimeError) and
    safetensors "os error 28", so besides ENOSPC anywhere in the chain, an I/O or runtime error that left
    the filesystem with under 64 MiB counts."""
    seen: Optional[BaseException] = exc
    for _ in range(10):  # the exception, its cause, its cause's cause...
        if seen is None:
            break
        if (
            getattr(seen, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            or "os error 28" in str(seen)
            or "No space left on device" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    if not isinstance(exc, (OSError, RuntimeError)):
        return False
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        stat = os.statvfs(folder or ".")
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 2**20


def make_symlink(output_dir: str, name: str, target: Optional[str]) -> None:
    """``output_dir/name`` → ``target`` (relative), replaced atomically."""
    if not target:
        return
    link = os.path.join(output_dir, name)
    tmp = link + ".tmp-link"
    if os.path.lexists(tmp):
        os.remove(tmp)
    os.symlink(os.path.relpath(target, output_dir), tmp)
    os.replace(tmp, link)
