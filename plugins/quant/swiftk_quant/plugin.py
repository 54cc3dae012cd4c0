"""The quantizers this plugin registers (each module imports its library only when a run asks for it), and
bitsandbytes' start-up for every command (:mod:`swiftk_quant.bnb_startup`)."""

from __future__ import annotations

import swiftk
from swiftk.api import QuantizerSpec

_LOAD = "swiftk_quant.load_time"

QUANTIZERS = {
    # as the model loads (QLoRA, quantized inference); bnb also exports its 4/8-bit weights
    "bnb": QuantizerSpec(
        load_config=f"{_LOAD}:bnb_config",
        check="swiftk_quant.bnb_export:check",
        export="swiftk_quant.bnb_export:export",
    ),
    "hqq": QuantizerSpec(load_config=f"{_LOAD}:hqq_check", after_load=f"{_LOAD}:hqq_quantize"),
    "eetq": QuantizerSpec(load_config=f"{_LOAD}:eetq_config"),
    # swiftk export only: calibrated (GPTQModel) and calibration-free (compressed-tensors) checkpoints
    "gptq": QuantizerSpec(check="swiftk_quant.gptq:check_gptq", export="swiftk_quant.gptq:export_gptq"),
    "awq": QuantizerSpec(check="swiftk_quant.gptq:check_awq", export="swiftk_quant.gptq:export_awq"),
    "fp8": QuantizerSpec(check="swiftk_quant.compressed:check_fp8", export="swiftk_quant.compressed:export_fp8"),
    "w8a8": QuantizerSpec(check="swiftk_quant.compressed:check_w8a8", export="swiftk_quant.compressed:export_w8a8"),
}


@swiftk.hookimpl
def register_quantizers(register):
    for name, spec in QUANTIZERS.items():
        register(name, spec)


@swiftk.hookimpl(tryfirst=True)  # before other plugins' checks, which may import bitsandbytes
def post_args_parse(command, args):
    """bitsandbytes imported without torch.compile when the run does not use it, and its CPU-kernel
    warning held back unless the run is a 4-bit bitsandbytes one on a CPU (:mod:`swiftk_quant.bnb_startup`)."""
    from swiftk_quant.bnb_startup import apply

    apply(args)
