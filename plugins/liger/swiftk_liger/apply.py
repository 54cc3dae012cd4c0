"""Patch liger-kernel's kernels into a loaded model (``--use_liger true``)."""

from __future__ import annotations

import importlib.util
from typing import Any

from swiftk.api import UsageError


def check_available() -> None:
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "--use_liger needs a CUDA GPU (liger-kernel's kernels are Triton); leave --use_liger false on this machine"
        )
    if importlib.util.find_spec("liger_kernel") is None:
        raise UsageError("--use_liger needs the liger-kernel package: pip install liger-kernel")


def apply_liger(model: Any) -> Any:
    check_available()
    from liger_kernel.transformers import _apply_liger_kernel_to_instance

    try:
        _apply_liger_kernel_to_instance(model=model)
    except (KeyError, ValueError, NotImplementedError) as exc:
        raise UsageError(
            f"--use_liger: liger-kernel has no kernels for {type(model).__name__} ({type(exc).__name__}: {exc})"
        ) from None
    return model
