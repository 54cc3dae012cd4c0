"""bitsandbytes at a command's start: its import without torch.compile, and its CPU-kernel warning held back.

Applied by this plugin's ``post_args_parse`` hook, once a command's arguments are parsed and before it runs.

- **torch.compile in bitsandbytes' import.** transformers imports peft whenever it is installed,
  and peft imports bitsandbytes whenever *it* is installed, so every command imports bitsandbytes.
  At import, bitsandbytes wraps four of its CPU kernels (blockwise and 4-bit dequantization, 8-bit
  optimizer updates) in ``torch.compile``, and that call alone imports ``torch._inductor``: 0.6 to
  0.9 s here. A run that neither quantizes with bitsandbytes nor uses its optimizers never calls
  those kernels, so for such runs :func:`apply` arranges that bitsandbytes, if anything
  imports it, is imported with ``TORCHDYNAMO_DISABLE=1``: ``torch.compile`` then hands each kernel
  back unchanged, as bitsandbytes itself does where compilation fails.

One line of bitsandbytes' import is noise for all but a few runs: on a CPU with AVX512-BF16 it
warns "Failed to load CPU gemm_4bit_forward from kernels-community: No module named 'kernels'"
(a faster CPU kernel for 4-bit layers, in the optional ``kernels`` package; without it bnb uses
its own). Printed at the start of every training run, it stood above unrelated errors.
:func:`apply` holds that warning back (:func:`hold_bitsandbytes_cpu_warning`) unless the run
quantizes to 4 bits with bitsandbytes on a machine without CUDA, the one run the hint is about.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any


def apply(args: Any) -> None:
    """Before a command runs: bitsandbytes imported without compiling its kernels when the run does not
    use them, and its CPU-kernel warning held back unless the run is a 4-bit bitsandbytes one on a CPU."""
    if not uses_bitsandbytes(args):
        import_bitsandbytes_uncompiled()
    hold_bitsandbytes_cpu_warning()
    if uses_bitsandbytes_4bit_on_cpu(args):
        hold_bitsandbytes_cpu_warning(release=True)


def uses_bitsandbytes(args: Any) -> bool:
    """Whether the run quantizes with bitsandbytes or trains with one of its optimizers."""
    optim = str(args.get("optim") or "").lower()
    return args.get("quant_method") == "bnb" or any(key in optim for key in ("bnb", "8bit", "paged"))


def uses_bitsandbytes_4bit_on_cpu(args: Any) -> bool:
    """Whether the run's 4-bit bitsandbytes layers will run on the CPU (no CUDA here)."""
    if args.get("quant_method") != "bnb" or args.get("quant_bits") not in (4, "4"):
        return False
    import torch

    return not torch.cuda.is_available()


#: bitsandbytes' logger for its CPU kernels, and the start of the warning held back.
BNB_CPU_LOGGER = "bitsandbytes.backends.cpu.ops"
BNB_CPU_WARNING = "Failed to load CPU gemm_4bit_forward from kernels-community"


class _HeldBack(logging.Filter):
    """Drops bitsandbytes' CPU-kernel warning from the output, keeping its record for a release."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(BNB_CPU_WARNING):
            self.held.append(record)
            return False
        return True


def hold_bitsandbytes_cpu_warning(release: bool = False) -> None:
    """Hold back bitsandbytes' "Failed to load CPU gemm_4bit_forward" warning (module docstring), or,
    with ``release``, stop holding it and emit what was held. Idempotent. The filter sits on
    bitsandbytes' own logger, which ``getLogger`` creates by name: call this before bitsandbytes is
    imported (the warning is logged at import)."""
    logger = logging.getLogger(BNB_CPU_LOGGER)
    held = next((f for f in logger.filters if isinstance(f, _HeldBack)), None)
    if not release:
        if held is None:
            logger.addFilter(_HeldBack())
        return
    if held is not None:
        logger.removeFilter(held)
        for record in held.held:
            logger.handle(record)


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
