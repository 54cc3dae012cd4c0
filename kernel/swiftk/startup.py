"""A command's start-up, without the garbage-collection passes it does not need, and with an allocator
that keeps the memory of a training step's activations (:func:`tune_allocator`).

Importing torch and transformers and loading a model, its tokenizer and the data allocate some
5·10^5 objects that live as long as the process, and little garbage (on the sft benchmark: about
13,000 objects, 8 MB, no tensors). With the collector on, Python walks the whole heap each time it
has grown by a quarter: 6 to 8 full passes, about 1 s of CPU. ``startup_phase()`` turns collection
off while its block runs, then freezes what is alive (``gc.freeze``) and turns collection back on:
later collections skip those objects, the ``gc.collect()`` that accelerate runs at the end of
training among them. Garbage made during the block stays (a few MB, once per process).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from typing import Any, Iterator, Optional

#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: tensors below this come from the heap, not a fresh mapping each (glibc's own ceiling for its dynamic threshold)
MMAP_THRESHOLD = 32 << 20
#: free memory at the top of the heap kept for the next step rather than given back at once
TRIM_THRESHOLD = 256 << 20


@contextlib.contextmanager
def startup_phase(args: Optional[Any] = None) -> Iterator[None]:
    """Run the block with garbage collection off, then freeze the objects it leaves alive.

    ``args`` is accepted and unused: what a run's arguments decide at start-up (bitsandbytes' import,
    in swift-plugin-quant) is done by ``post_args_parse`` hooks before the command runs, and callers
    (swift-plugin-infer) still pass them. Nested blocks are fine: only the outermost one turns
    collection back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def tune_allocator() -> bool:
    """Keep the CPU allocator from mapping and unmapping every mid-sized tensor (glibc, Linux).

    glibc serves each allocation over its mmap threshold (128 KiB at start, raised as blocks are freed)
    with a fresh mapping, and returns heap tops over 128 KiB to the kernel at once. A training step on
    CPU allocates and frees hundreds of 0.1-10 MB activations: each one then costs a mapping, page faults
    on first touch, and an unmapping. With :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD` they are
    reused from the heap: the rm job of benchmarks/rlhf_cpu.py (demo model) went from 0.097 to 0.092 s
    per step, a 30-step full DPO run of its 4M model from 15.3 to 14.0 s, peak RSS 663 -> 684 MB.
    Not where the user set glibc's malloc tunables, nor with ``SWIFTK_MALLOC_TUNING=0``.
    Returns whether the thresholds were set.
    """
    if not sys.platform.startswith("linux") or os.environ.get("SWIFTK_MALLOC_TUNING", "1") == "0":
        return False
    if "malloc." in os.environ.get("GLIBC_TUNABLES", "") or any(k.startswith("MALLOC_") for k in os.environ):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no C library to load, or one without mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
