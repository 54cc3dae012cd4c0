"""``swiftk export --quant_method fp8|w8a8``: calibration-free 8-bit checkpoints in the compressed-tensors format.

Both go through compressed-tensors alone (no llm-compressor, no calibration data): its preset scheme is
applied to every ``Linear`` but ``lm_head`` (the llm-compressor/ms-swift convention), each weight's
per-output-channel scale is computed from the weight itself (min-max, symmetric), activations are
quantized per token at run time (dynamic: nothing to calibrate), and :class:`ModelCompressor`
compresses the weights, after which ``save_pretrained`` writes them and ``update_config`` writes the
``quantization_config`` that transformers (with compressed-tensors installed) reloads the folder with.

- ``fp8``: the ``FP8_DYNAMIC`` scheme: float8 e4m3 weights with a scale per output channel, float8
  activations with a scale per token (``format: float-quantized``).
- ``w8a8``: the ``W8A8`` scheme: int8 weights with a scale per output channel, int8 activations with a
  scale per token (``format: int-quantized``), a scheme vLLM's CPU build runs.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

from swiftk.api import MissingPluginError, UsageError

#: --quant_method -> compressed-tensors' preset scheme
SCHEMES = {"fp8": "FP8_DYNAMIC", "w8a8": "W8A8"}
#: modules left in full precision (the output projection: quantizing it costs the most accuracy)
IGNORE = ["lm_head"]


def export_fp8(args: Any, model_dir: str, output_dir: str) -> None:
    """``--quant_method fp8``: float8 weights (per channel) and dynamic float8 activations (per token)."""
    _export(args, model_dir, output_dir, "fp8")


def export_w8a8(args: Any, model_dir: str, output_dir: str) -> None:
    """``--quant_method w8a8``: int8 weights (per channel) and dynamic int8 activations (per token)."""
    _export(args, model_dir, output_dir, "w8a8")


def source_dtype(args: Any, model_dir: str) -> str:
    """The dtype the full-precision model is loaded in: ``--torch_dtype``, else its config's, else float32."""
    given = args.get("torch_dtype")
    if given:
        return str(given)
    try:
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        config = {}
    saved = config.get("dtype") or config.get("torch_dtype") or (config.get("text_config") or {}).get("dtype")
    return saved if saved in ("float16", "bfloat16", "float32") else "float32"


def load_source(args: Any, model_dir: str, **kwargs: Any) -> Any:
    """The full-precision model of ``model_dir`` through transformers' AutoModelForCausalLM."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = getattr(torch, source_dtype(args, model_dir))
    trust = args.get("trust_remote_code") is not False  # ms-swift trusts a model's own code unless told not to
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, trust_remote_code=trust, **kwargs)


def check_fp8(args: Any) -> None:
    _check(args, "fp8")


def check_w8a8(args: Any) -> None:
    _check(args, "w8a8")


def _check(args: Any, method: str) -> None:
    bits = args.get("quant_bits")
    if bits not in (None, 8):
        raise UsageError(
            f"--quant_method {method} quantizes to 8 bits: --quant_bits takes 8 or nothing, got --quant_bits {bits}"
        )
    if importlib.util.find_spec("compressed_tensors") is None:
        raise MissingPluginError(
            f"--quant_method {method} needs compressed-tensors: pip install 'swift-plugin-quant[fp8]'",
            "compressed-tensors",
        )


def _export(args: Any, model_dir: str, output_dir: str, method: str) -> None:
    _check(args, method)
    import torch
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import QuantizationConfig, apply_quantization_config

    model = load_source(args, model_dir).eval()
    config = QuantizationConfig(config_groups={SCHEMES[method]: ["Linear"]}, ignore=list(IGNORE))
    apply_quantization_config(model, config, show_progress=False)
    with torch.no_grad():
        quantized = _set_weight_scales(model)
    if not quantized:
        raise UsageError(f"--quant_method {method}: the model has no Linear layer to quantize (besides {IGNORE})")
    compressor = ModelCompressor.from_pretrained_model(model)
    compressor.compress_model(model)
    model.save_pretrained(output_dir)
    compressor.update_config(output_dir)  # the quantization_config in config.json
    print(f"[swiftk] {method}: {quantized} Linear layers quantized ({SCHEMES[method]}; kept: {', '.join(IGNORE)})")


def _set_weight_scales(model: Any) -> int:
    """Each quantized layer's static weight scale (and zero point), from the min and max of its weight
    over the dimensions the scheme's strategy reduces (one value per output channel for both presets).
    Returns the number of layers quantized."""
    import torch
    from compressed_tensors.offload import update_offload_parameter
    from compressed_tensors.quantization import QuantizationStrategy
    from compressed_tensors.quantization.utils import calculate_qparams

    count = 0
    for module in model.modules():
        scheme = getattr(module, "quantization_scheme", None)
        weights = getattr(scheme, "weights", None)
        if weights is None:
            continue
        weight = module.weight
        if weights.strategy == QuantizationStrategy.CHANNEL:
            low, high = torch.aminmax(weight, dim=-1, keepdim=True)
        elif weights.strategy == QuantizationStrategy.TENSOR:
            low, high = torch.aminmax(weight)
        else:  # the presets used here are per channel; a group/block scheme needs its own reduction
            raise UsageError(f"weight strategy {weights.strategy} is not supported by swiftk's compressed export")
        scale, zero_point = calculate_qparams(low.float(), high.float(), weights)
        update_offload_parameter(
            module, "weight_scale", scale.to(module.weight_scale.dtype).reshape_as(module.weight_scale)
        )
        if hasattr(module, "weight_zero_point"):
            update_offload_parameter(
                module,
                "weight_zero_point",
                zero_point.to(module.weight_zero_point.dtype).reshape_as(module.weight_zero_point),
            )
        count += 1
    return count
