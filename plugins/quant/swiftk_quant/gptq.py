"""``swiftk export --quant_method gptq|awq``: calibrated int2-8 weights through GPTQModel's own API.

Each is the ``export(args, model_dir, output_dir)`` of a :class:`swiftk.api.QuantizerSpec`
(:mod:`swiftk_quant.plugin`):

1. the arguments are checked before anything loads: ``--quant_bits`` (gptq: 2, 3, 4 or 8; awq: 4),
   ``--group_size`` (-1 or positive), ``--dataset`` (the calibration data), and GPTQModel itself
   (``pip install 'swift-plugin-quant[gptq]'``);
2. :func:`swiftk_quant.calibration.calibration_samples`: ``--quant_n_samples`` rows of ``--dataset``
   rendered by the model's template, cut to ``--max_length``;
3. ``GPTQModel.load(model_dir, GPTQConfig|AWQConfig(...))``, ``.quantize(samples,
   batch_size=--quant_batch_size)`` and ``.save(output_dir)``: a folder whose ``config.json`` carries the
   ``quantization_config`` that transformers (with gptqmodel and optimum installed) and vLLM load.

The quantized model's dtype is GPTQModel's choice (bfloat16 on CPU, the model's half precision on a GPU)
unless ``--torch_dtype`` is given; AWQ has no float32 kernels, and vLLM runs both in float16/bfloat16 only.

GPTQ is symmetric with no activation reordering (``desc_act`` false: ms-swift's defaults through
optimum, and what every GPTQ kernel runs); AWQ is GEMM-format, with zero points (AutoAWQ's default).
On a machine without CUDA, AWQ quantizes with GPTQModel's portable torch kernel (``BACKEND.AWQ_TORCH``;
its default AWQ GEMM kernel is CUDA-only) and ``GPTQMODEL_CPU_WORKERS`` defaults to the CPU count (GPTQModel's
own default, half the cores, leaves one of two cores idle).  GPTQModel is imported only here, and only
when a run asks for it: it pins numpy and wants its own torch, so it lives in a side environment
(``make quant-env``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
import time
from typing import Any, Iterator

from swiftk.api import MissingPluginError, UsageError

#: the bit widths each method's checkpoints can be written (and loaded by transformers and vLLM) in
BITS = {"gptq": (2, 3, 4, 8), "awq": (4,)}
EXTRA = "swift-plugin-quant[gptq]"


def check_gptq(args: Any) -> None:
    """``--quant_bits``/``--group_size`` and GPTQModel, before anything loads (``swiftk export`` calls it first)."""
    check_args("gptq", args)
    require_gptqmodel("gptq")


def check_awq(args: Any) -> None:
    check_args("awq", args)
    require_gptqmodel("awq")


def export_gptq(args: Any, model_dir: str, output_dir: str) -> None:
    """GPTQ (``--quant_bits`` 2/3/4/8, ``--group_size``) calibrated on ``--dataset``, written to ``output_dir``."""
    _export("gptq", args, model_dir, output_dir)


def export_awq(args: Any, model_dir: str, output_dir: str) -> None:
    """AWQ (``--quant_bits 4``, ``--group_size``, GEMM format) calibrated on ``--dataset``, written to
    ``output_dir``."""
    _export("awq", args, model_dir, output_dir)


def check_args(method: str, args: Any) -> tuple[int, int]:
    """``(bits, group_size)`` or a one-line :class:`UsageError`; also that ``--dataset`` is given."""
    from swiftk_quant.calibration import require_dataset

    allowed = BITS[method]
    *rest, last = [str(b) for b in allowed]
    choices = f"{', '.join(rest)} or {last}" if rest else last  # "2, 3, 4 or 8", "4"
    bits = args.get("quant_bits")
    try:
        bits = int(bits) if bits is not None else None
    except (TypeError, ValueError):
        bits = None
    if bits not in allowed:
        given = args.get("quant_bits")
        raise UsageError(
            f"--quant_method {method} needs --quant_bits {choices}"
            + (f", got {given}" if given is not None else " (the bit width of the quantized weights)")
        )
    group_size = args.get("group_size")
    group_size = 128 if group_size is None else int(group_size)
    if group_size != -1 and group_size <= 0:
        raise UsageError(
            f"--group_size {group_size}: a positive number of weights sharing one scale (128 by default), "
            f"or -1 for one group per output channel"
        )
    if method == "awq" and _explicit_dtype(args) == "float32":
        raise UsageError(
            "--quant_method awq writes float16/bfloat16 weights (GPTQModel's AWQ kernels take no float32): "
            "pass --torch_dtype bfloat16 or float16, or leave it out"
        )
    require_dataset(args)
    return bits, group_size


def _explicit_dtype(args: Any) -> Any:
    """``--torch_dtype`` when given on the command line (a recorded one is the source model's, not a choice)."""
    dtype = args.get("torch_dtype")
    return str(dtype) if dtype and "torch_dtype" in (getattr(args, "explicit", None) or ()) else None


def require_gptqmodel(method: str) -> None:
    if importlib.util.find_spec("gptqmodel") is None:
        raise MissingPluginError(f"--quant_method {method} needs GPTQModel: pip install '{EXTRA}'", "gptqmodel")


def _cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover - torch is a dependency of this plugin
        return False


def _export(method: str, args: Any, model_dir: str, output_dir: str) -> None:
    bits, group_size = check_args(method, args)
    require_gptqmodel(method)
    cuda = _cuda()
    if not cuda and not os.environ.get("GPTQMODEL_CPU_WORKERS"):
        # read when gptqmodel builds its thread pool: set before the first import
        os.environ["GPTQMODEL_CPU_WORKERS"] = str(os.cpu_count() or 1)

    from swiftk_quant.calibration import calibration_samples

    samples = calibration_samples(args, model_dir)

    import torch
    from gptqmodel import BACKEND, AWQConfig, GPTQConfig, GPTQModel

    if method == "gptq":
        config = GPTQConfig(bits=bits, group_size=group_size, sym=True, desc_act=False)
        backend = BACKEND.AUTO
    else:
        config = AWQConfig(bits=bits, group_size=group_size, sym=False, format="gemm")
        backend = BACKEND.AUTO if cuda else BACKEND.AWQ_TORCH
    load_kwargs: dict[str, Any] = {}
    dtype = _explicit_dtype(args)
    if dtype:  # else GPTQModel's choice: bfloat16 on CPU, the model's float16/bfloat16 on a GPU
        load_kwargs["dtype"] = getattr(torch, dtype)
    start = time.perf_counter()
    model = GPTQModel.load(model_dir, config, trust_remote_code=bool(args.get("trust_remote_code")), **load_kwargs)
    with _stats_elsewhere():
        model.quantize(samples, batch_size=int(args.get("quant_batch_size") or 1), backend=backend)
    model.save(output_dir)
    print(
        f"[swiftk] {method} int{bits} (group_size {group_size}) calibrated on {len(samples)} rows "
        f"in {time.perf_counter() - start:.1f} s"
    )


@contextlib.contextmanager
def _stats_elsewhere() -> Iterator[None]:
    """GPTQModel writes per-layer statistics into ``./logs`` (its ``loop_processor._PROJECT_LOG_DIR``),
    relative to wherever the user runs the command: point it at a temporary folder, removed afterwards."""
    from pathlib import Path

    try:
        from gptqmodel.looper import loop_processor
    except ImportError:  # another layout: leave GPTQModel's default
        yield
        return
    before = getattr(loop_processor, "_PROJECT_LOG_DIR", None)
    with tempfile.TemporaryDirectory(prefix="swiftk-gptqmodel-logs-") as folder:
        loop_processor._PROJECT_LOG_DIR = Path(folder)
        try:
            yield
        finally:
            loop_processor._PROJECT_LOG_DIR = before


__all__ = ["export_gptq", "export_awq", "check_args", "require_gptqmodel", "BITS"]
