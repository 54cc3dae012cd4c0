"""SIGTERM as Ctrl-C for the length of a training run, so that it unwinds cleanly instead of vanishing
mid-write (the CLI turns :class:`Terminated` into one line and exit status 143)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
from typing import Any, Iterator

__all__ = ["Terminated", "sigterm_as_interrupt"]


class Terminated(KeyboardInterrupt):
    """SIGTERM during training, raised in the main thread wherever it is, so that the run unwinds as after
    Ctrl-C (a partial checkpoint removed, one line, exit status 128 + 15) instead of vanishing mid-write."""


def _on_sigterm(signum: int, frame: Any, main_pid: int) -> None:
    if os.getpid() != main_pid:  # a forked worker (data loading, datasets.map) ends as SIGTERM's default
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        return
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within: SIGTERM raises :class:`Terminated` (training pipelines; servers keep uvicorn's own handling).

    Only over SIGTERM's default action: a handler already there (an outer block, transformers'
    ``--enable_jit_checkpoint``, an ignored SIGTERM) stays.
    """
    previous = None
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            previous = signal.signal(signal.SIGTERM, functools.partial(_on_sigterm, main_pid=os.getpid()))
    except ValueError:  # not the main thread: signals are not ours to handle
        pass
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
