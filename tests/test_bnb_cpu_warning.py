"""bitsandbytes' import-time "Failed to load CPU gemm_4bit_forward" warning never stands above an
unrelated error; a 4-bit bitsandbytes run on a CPU, the one run it is about, still shows it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from kernel_support import run_swiftk, swiftk_env
from swiftk.startup import BNB_CPU_WARNING


@pytest.mark.parametrize(
    "argv",
    [
        ("sft", "--model", "/nonexistent/model", "--dataset", "swiftk/demo-sft"),
        ("rlhf", "--rlhf_type", "dpo", "--model", "/nonexistent/model", "--dataset", "swiftk/demo-dpo"),
    ],
)
def test_a_usage_error_is_the_only_line_of_stderr(argv):
    result = run_swiftk(*argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["swiftk: error: --model /nonexistent/model: no such folder"], result.stderr


PROBE = """
from swiftk.startup import startup_phase
with startup_phase(type("Args", (dict,), {{"get": dict.get}})({args!r})):
    import peft  # imports bitsandbytes whenever it is installed, as transformers' trainer does
"""


def _stderr(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=swiftk_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def test_the_warning_is_held_back_unless_the_run_quantizes_to_4_bits_with_bnb_on_cpu():
    if importlib.util.find_spec("bitsandbytes") is None or importlib.util.find_spec("peft") is None:
        pytest.skip("bitsandbytes or peft is not installed")
    if BNB_CPU_WARNING not in _stderr("import bitsandbytes"):
        pytest.skip("this machine's bitsandbytes does not print the warning (no AVX512-BF16, or `kernels` installed)")
    assert BNB_CPU_WARNING not in _stderr(PROBE.format(args={"quant_method": None}))
    assert BNB_CPU_WARNING not in _stderr(PROBE.format(args={"quant_method": "bnb", "quant_bits": 8}))
    import torch

    shown = BNB_CPU_WARNING in _stderr(PROBE.format(args={"quant_method": "bnb", "quant_bits": 4}))
    assert shown == (not torch.cuda.is_available())
