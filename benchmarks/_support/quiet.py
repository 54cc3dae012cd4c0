"""Wait for a quiet machine before each measured run.

The speed targets (issue #27) are read on a quiet box: the 1-minute load average under 0.5 before each
run. A run leaves its own load behind (one busy core for 15 s lifts the average by about 0.2), so the
benchmarks wait here between runs, and print the load each run started at.
"""

from __future__ import annotations

import os
import time

#: the default ceiling of the 1-minute load average a run may start at
QUIET_LOAD = 0.5


def wait_for_quiet(threshold: float = QUIET_LOAD, timeout: float = 240.0, poll: float = 2.0) -> float:
    """Sleep until the 1-minute load average is under ``threshold`` (``threshold <= 0``: do not wait).

    Returns the load average the run starts at. After ``timeout`` seconds it stops waiting and says so,
    so that a busy machine slows the benchmark down without hanging it; the printed load shows it.
    """
    if threshold <= 0:
        return os.getloadavg()[0]
    deadline = time.monotonic() + timeout
    load = os.getloadavg()[0]
    while load >= threshold and time.monotonic() < deadline:
        time.sleep(poll)
        load = os.getloadavg()[0]
    if load >= threshold:
        print(f"[quiet] the load average stayed at {load:.2f} (>= {threshold}) for {timeout:.0f} s; running anyway")
    return load
