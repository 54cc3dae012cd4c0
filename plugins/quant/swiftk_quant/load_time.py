"""Load-time quantization (``--quant_method bnb|hqq|eetq`` with ``--quant_bits``), as quantizers.

Each is the ``load_config``/``after_load`` of a :class:`swiftk.api.QuantizerSpec` registered by this
plugin (:mod:`swiftk_quant.plugin`); swift-plugin-models' loader calls ``load_config`` before
``from_pretrained`` and ``after_load`` after it.  The libraries are
imported only when a run asks for them.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Optional

from swiftk.api import MissingPluginError, UsageError


def _require(module: str, method: str, package: Optional[str] = None) -> None:
    if importlib.util.find_spec(module) is None:
        package = package or module
        raise MissingPluginError(f"--quant_method {method} needs the {package} package: pip install {package}", package)


def bnb_config(args: Any, dtype: str) -> Any:
    """bitsandbytes 4- or 8-bit weights (QLoRA), through transformers' BitsAndBytesConfig."""
    import torch
    from transformers import BitsAndBytesConfig

    bits = args.get("quant_bits")
    if bits not in (4, 8):
        raise UsageError(f"--quant_method bnb needs --quant_bits 4 or 8, got {bits}")
    _require("bitsandbytes", "bnb")
    storage = args.get("bnb_4bit_quant_storage")
    return BitsAndBytesConfig(
        load_in_4bit=bits == 4,
        load_in_8bit=bits == 8,
        bnb_4bit_compute_dtype=getattr(torch, args.get("bnb_4bit_compute_dtype") or dtype),
        bnb_4bit_quant_type=args.get("bnb_4bit_quant_type") or "nf4",
        bnb_4bit_use_double_quant=bool(args.get("bnb_4bit_use_double_quant", True)),
        bnb_4bit_quant_storage=getattr(torch, storage) if storage else torch.uint8,
    )


def hqq_check(args: Any, dtype: str) -> None:
    """hqq needs no transformers config; only the arguments and the package are checked before loading."""
    bits = args.get("quant_bits")
    if bits not in (1, 2, 3, 4, 8):
        raise UsageError(f"--quant_method hqq needs --quant_bits 1, 2, 3, 4 or 8, got {bits}")
    if importlib.util.find_spec("hqq") is None:
        raise MissingPluginError(
            f"--quant_method hqq needs the hqq package, which is not importable: {hqq_remedy()}", "hqq"
        )
    return None


#: Where swift-kernel's ``make install`` puts hqq: outside the venv's site-packages, since importing it
#: costs every model load seconds; a run that wants it puts the folder on PYTHONPATH.
HQQ_EXTRAS = os.path.join(".extras", "hqq")


def hqq_remedy() -> str:
    """How to make hqq importable: the checkout's ``.extras/hqq`` on PYTHONPATH (installed there by
    ``make install``, or by the pip line shown), or ``pip install hqq`` outside a checkout."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if not os.path.isfile(os.path.join(root, "Makefile")):
        return "pip install hqq"
    folder = os.path.join(root, HQQ_EXTRAS)
    how = (
        ""
        if os.path.isdir(os.path.join(folder, "hqq"))
        else (
            f"install it there first (make install, or pip install --no-deps --target {folder} "
            f"-r {os.path.join(root, 'requirements', 'extras-hqq.txt')}), then "
        )
    )
    return f"this checkout keeps it in {folder}, off the default path; {how}run with PYTHONPATH={folder}"


def hqq_quantize(model: Any, args: Any, dtype: str) -> None:
    """hqq through its own API (transformers' HqqConfig is not implemented in the versions we support)."""
    import torch
    from hqq.core.quantize import BaseQuantizeConfig
    from hqq.models.hf.base import AutoHQQHFModel

    axis = args.get("hqq_axis")
    config = BaseQuantizeConfig(nbits=args.quant_bits, group_size=64, axis=1 if axis is None else axis)
    device = str(next(model.parameters()).device)
    AutoHQQHFModel.quantize_model(model, quant_config=config, compute_dtype=getattr(torch, dtype), device=device)


def eetq_config(args: Any, dtype: str) -> Any:
    """EETQ int8 weights (CUDA kernels only)."""
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "--quant_method eetq needs a CUDA GPU (EETQ only has int8 CUDA kernels); on CPU use "
            "--quant_method bnb or hqq"
        )
    bits = args.get("quant_bits")
    if bits not in (None, 8):
        raise UsageError(f"--quant_method eetq quantizes to 8 bits; --quant_bits {bits} is not possible")
    _require("eetq", "eetq")
    from transformers import EetqConfig

    return EetqConfig("int8")
