"""``--quant_method half [--quant_bits 16]``: 16-bit weights (bfloat16 with ``--torch_dtype bfloat16``, else float16).

Not a compression scheme worth a library, but the whole quantizer contract in a few lines: the
arguments checked before anything heavy happens, a load step and an export step that writes a folder
``from_pretrained`` reloads as it is.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError

DTYPES = ("float16", "bfloat16")


def _dtype(args: Any) -> Any:
    import torch

    bits = args.get("quant_bits")
    if bits not in (None, 16):
        raise UsageError(f"--quant_method half stores 16-bit weights; --quant_bits {bits} is not possible (16 or none)")
    name = args.get("torch_dtype")
    return getattr(torch, name if name in DTYPES else "float16")


def check(args: Any) -> None:
    """Before anything loads (``swiftk export`` calls it first)."""
    _dtype(args)


def after_load(model: Any, args: Any, torch_dtype: str) -> None:
    """At load time (``swiftk infer --quant_method half``): cast the loaded weights."""
    model.to(_dtype(args))


def export(args: Any, model_dir: str, output_dir: str) -> None:
    """``swiftk export --quant_method half``: ``model_dir`` in, the 16-bit model into ``output_dir``."""
    from transformers import AutoModelForCausalLM

    dtype = _dtype(args)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    model.save_pretrained(output_dir)  # config.json records the dtype; no quantization_config is needed
