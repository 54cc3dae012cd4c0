"""Load-time quantization (``--quant_method bnb|hqq|eetq`` with ``--quant_bits``), as quantizers.

Each is the ``load_config``/``after_load`` of a :class:`swiftk.api.QuantizerSpec` registered by this
plugin (:mod:`swiftk_quant.plugin`); swift-plugin-models' loader calls ``load_config`` before
``from_pretrained`` and ``after_load`` after it.  The libraries are
imported only when a run asks for them.
"""

from __future__ import annotations

import importlib.util
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
    _require("hqq", "hqq")
    return None


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
