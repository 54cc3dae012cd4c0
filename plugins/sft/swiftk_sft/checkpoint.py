"""Checkpoint folders written atomically, and the ``best``/``last`` symlinks.

The Trainer writes a checkpoint into ``output_dir/.staging/checkpoint-N``; only when every file
is there is it renamed to ``output_dir/checkpoint-N`` (a rename is atomic on one filesystem).
A run killed during a save leaves the earlier checkpoints intact and a stale staging folder,
removed when the next run starts.
"""
from __future__ import annotations

import os
import re
import shutil
from typing import Optional

STAGING = ".staging"


def staging_dir(output_dir: str) -> str:
    return os.path.join(output_dir, STAGING)


def clear_staging(output_dir: str) -> None:
    shutil.rmtree(staging_dir(output_dir), ignore_errors=True)


def publish(staged: str, final: str) -> None:
    """Move a finished staged checkpoint into place (replacing a stale one of the same step)."""
    if os.path.exists(final):
        shutil.rmtree(final)
    os.replace(staged, final)
    try:
        os.rmdir(os.path.dirname(staged))  # the staging folder, once empty
    except OSError:
        pass


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
