"""A command's start-up, without the garbage-collection passes it does not need.

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
from typing import Any, Iterator, Optional


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
