"""The page's "量化参数" (quantization applied when loading a model)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from swiftk.arguments.fields import arg


@dataclass
class QuantizeArguments:
    """Quantization arguments (the seed page's "量化参数")."""

    SECTION = "Quantization arguments"
    SECTION_ZH = "量化参数"

    quant_method: Optional[str] = arg(
        None,
        "Quantization method applied when loading the model (or one a plugin registers).",
        hot=True,
        choices=("bnb", "hqq", "eetq"),
        registry="quantizers",
    )
    quant_bits: Optional[int] = arg(None, "Quantization bits.", hot=True)
    hqq_axis: Optional[int] = arg(None, "hqq quantization axis.")
    bnb_4bit_compute_dtype: Optional[Literal["float16", "bfloat16", "float32"]] = arg(
        None, "bnb compute dtype; None uses torch_dtype."
    )
    bnb_4bit_quant_type: Literal["fp4", "nf4"] = arg("nf4", "bnb 4-bit quantization type.")
    bnb_4bit_use_double_quant: bool = arg(True, "bnb double quantization.")
    bnb_4bit_quant_storage: Optional[str] = arg(None, "bnb quantized storage dtype.")
