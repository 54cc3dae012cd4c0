"""A command's start-up, without the work it does not need.

Two costs come before a command's first training step or first generated token, and neither is
needed by most runs:

- **Garbage-collection passes.** Importing torch and transformers and loading a model, its
  tokenizer and the data allocate some 5·10^5 objects that live as long as the process, and little
  garbage (on the sft benchmark: about 13,000 objects, 8 MB, no tensors). With the collector on,
  Python walks the whole heap each time it has grown by a quarter: 6 to 8 full passes, about 1 s of
  CPU. ``startup_phase()`` turns collection off while its block runs, then freezes what is alive
  (``gc.freeze``) and turns collection back on: later collections skip those objects, the
  ``gc.collect()`` that accelerate runs at the end of training among them. Garbage made during the
  block stays (a few MB, once per process).
- **torch.compile in bitsandbytes' import.** transformers imports peft whenever it is installed,
  and peft imports bitsandbytes whenever *it* is installed, so every command imports bitsandbytes.
  At import, bitsandbytes wraps four of its CPU kernels (blockwise and 4-bit dequantization, 8-bit
  optimizer updates) in ``torch.compile``, and that call alone imports ``torch._inductor``: 0.6 to
  0.9 s here. A run that neither quantizes with bitsandbytes nor uses its optimizers never calls
  those kernels, so for such runs ``startup_phase(args)`` arranges that bitsandbytes, if anything
  imports it, is imported with ``TORCHDYNAMO_DISABLE=1``: ``torch.compile`` then hands each kernel
  back unchanged, as bitsandbytes itself does where compilation fails.
"""
from __future__ import annotations

import contextlib
import gc
import importlib.util
import os
import sys
from typing import Any, Iterator, Optional


@contextlib.contextmanager
def startup_phase(args: Optional[Any] = None) -> Iterator[None]:
    """Run the block with garbage collection off, then freeze the objects it leaves alive.

    With ``args``, bitsandbytes will be imported without compiling its kernels when the run
    does not use them (see the module's docstring). Nested blocks are fine: only the outermost one
    turns collection back on.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        if args is not None and not uses_bitsandbytes(args):
            import_bitsandbytes_uncompiled()
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def uses_bitsandbytes(args: Any) -> bool:
    """Whether the run quantizes with bitsandbytes or trains with one of its optimizers."""
    optim = str(args.get("optim") or "").lower()
    return args.get("quant_method") == "bnb" or any(key in optim for key in ("bnb", "8bit", "paged"))


def import_bitsandbytes_uncompiled() -> None:
    """Have bitsandbytes, whenever something first imports it, imported with torch.compile switched off.

    A finder placed first on ``sys.meta_path`` wraps the package's loader; commands that never
    import bitsandbytes (``infer`` and ``deploy`` without an adapter) pay nothing.
    """
    if "bitsandbytes" in sys.modules or any(isinstance(f, _UncompiledImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _UncompiledImport())


class _UncompiledImport:
    """A meta-path finder for ``bitsandbytes`` alone: its spec, the loader wrapped in :class:`_UncompiledLoader`.

    Availability checks (``importlib.util.find_spec``) see the same spec and leave the finder in place;
    it leaves ``sys.meta_path`` once the package has been imported.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "bitsandbytes" or "bitsandbytes" in sys.modules:
            return None
        at = sys.meta_path.index(self)
        sys.meta_path.remove(self)  # the real finders answer
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(at, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _UncompiledLoader(spec.loader)
        return spec


class _UncompiledLoader:
    """Runs the wrapped loader's ``exec_module`` (the package and every submodule it imports) with
    ``TORCHDYNAMO_DISABLE=1``; anything else is the wrapped loader's."""

    def __init__(self, loader: Any):
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        previous = os.environ.get("TORCHDYNAMO_DISABLE")
        os.environ["TORCHDYNAMO_DISABLE"] = "1"
        try:
            self._loader.exec_module(module)
        finally:
            if previous is None:
                del os.environ["TORCHDYNAMO_DISABLE"]
            else:
                os.environ["TORCHDYNAMO_DISABLE"] = previous
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _UncompiledImport)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
