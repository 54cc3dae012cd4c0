"""``swiftk export --quant_method bnb --quant_bits 4|8``: a bitsandbytes checkpoint.

The full-precision model is loaded through transformers' ``BitsAndBytesConfig`` (the same config
``--quant_method bnb`` loads a model with for QLoRA: :func:`swiftk_quant.load_time.bnb_config`, so
``--bnb_4bit_quant_type``, ``--bnb_4bit_use_double_quant``, ``--bnb_4bit_compute_dtype`` and
``--bnb_4bit_quant_storage`` apply) and ``save_pretrained`` writes the quantized weights with the
``quantization_config`` that ``from_pretrained`` reloads them with.  No calibration.  On CPU,
bitsandbytes' 4-bit kernels need every quantized layer at least 64 wide.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError


def check(args: Any) -> None:
    """Before anything loads: the bits, and bitsandbytes itself."""
    from swiftk_quant.load_time import _require

    bits = args.get("quant_bits")
    if bits not in (4, 8):
        raise UsageError(f"--quant_method bnb needs --quant_bits 4 or 8, got {bits}")
    _require("bitsandbytes", "bnb")


def export(args: Any, model_dir: str, output_dir: str) -> None:
    """Quantize ``model_dir`` with bitsandbytes to ``--quant_bits`` 4 (nf4/fp4) or 8 (LLM.int8) into ``output_dir``."""
    from swiftk_quant.compressed import load_source, source_dtype
    from swiftk_quant.load_time import bnb_config

    check(args)
    bits = args.get("quant_bits")
    config = bnb_config(args, source_dtype(args, model_dir))  # names bitsandbytes when it is missing
    model = load_source(args, model_dir, quantization_config=config)
    model.save_pretrained(output_dir)
    kind = f"4-bit {config.bnb_4bit_quant_type}" if bits == 4 else "8-bit"
    print(f"[swiftk] bnb: weights quantized to {kind} with bitsandbytes")
