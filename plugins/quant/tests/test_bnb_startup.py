"""bitsandbytes at a command's start (:mod:`swiftk_quant.bnb_startup`, applied by this plugin's
``post_args_parse``): its import-time "Failed to load CPU gemm_4bit_forward" warning never stands above
an unrelated error, while a 4-bit bitsandbytes run on a CPU, the one run it is about, still shows it;
and a run that does not use bitsandbytes imports it without compiling its kernels."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from swiftk_quant.bnb_startup import BNB_CPU_WARNING


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWIFTK_")}
    for var in ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "LOCAL_RANK", "RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        env.pop(var, None)
    return {**env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _python(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=_env(), timeout=300)


def _needs_bitsandbytes_and_peft() -> None:
    if importlib.util.find_spec("bitsandbytes") is None or importlib.util.find_spec("peft") is None:
        pytest.skip("bitsandbytes or peft is not installed")


def test_the_hook_is_registered_to_run_before_other_plugins_checks():
    from swiftk.host import get_host

    impls = [i for i in get_host().hook.post_args_parse.get_hookimpls() if i.plugin_name.endswith("quant")]
    assert [i.function.__module__ for i in impls] == ["swiftk_quant.plugin"] and impls[0].tryfirst


@pytest.mark.parametrize(
    "argv",
    [
        ("sft", "--model", "/nonexistent/model", "--dataset", "swiftk/demo-sft"),
        ("rlhf", "--rlhf_type", "dpo", "--model", "/nonexistent/model", "--dataset", "swiftk/demo-dpo"),
    ],
)
def test_a_usage_error_is_the_only_line_of_stderr(argv):
    result = _python("-m", "swiftk", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == ["swiftk: error: --model /nonexistent/model: no such folder"], result.stderr


# the plugin's hook on a run's arguments, then what transformers' trainer imports
PROBE = """
from swiftk_quant.plugin import post_args_parse
post_args_parse("sft", type("Args", (dict,), {{"get": dict.get}})({args!r}))
import peft  # imports bitsandbytes whenever it is installed, as transformers' trainer does
"""


def _stderr(code: str) -> str:
    proc = _python("-c", code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr


def test_the_warning_is_held_back_unless_the_run_quantizes_to_4_bits_with_bnb_on_cpu():
    _needs_bitsandbytes_and_peft()
    if BNB_CPU_WARNING not in _stderr("import bitsandbytes"):
        pytest.skip("this machine's bitsandbytes does not print the warning (no AVX512-BF16, or `kernels` installed)")
    assert BNB_CPU_WARNING not in _stderr(PROBE.format(args={"quant_method": None}))
    assert BNB_CPU_WARNING not in _stderr(PROBE.format(args={"quant_method": "bnb", "quant_bits": 8}))
    import torch

    shown = BNB_CPU_WARNING in _stderr(PROBE.format(args={"quant_method": "bnb", "quant_bits": 4}))
    assert shown == (not torch.cuda.is_available())


# --- bitsandbytes without torch.compile -------------------------------------------------------

BNB_PROBE = """
import os, sys
from swiftk_quant.plugin import post_args_parse
args = {args!r}
post_args_parse("sft", type("Args", (dict,), {{"get": dict.get}})(args))
print("EARLY", "bitsandbytes" in sys.modules)  # not imported by the hook: infer and deploy may never need it
import importlib.util
assert importlib.util.find_spec("bitsandbytes") is not None  # an availability check leaves the hook in place
import peft  # imports bitsandbytes whenever it is installed, as transformers' trainer does
print("INDUCTOR", "torch._inductor.compile_fx" in sys.modules)
import torch
compiled = torch.compile(lambda x: x + 1)
print("BNB", "bitsandbytes" in sys.modules)
print("ENV", os.environ.get("TORCHDYNAMO_DISABLE"))
print("COMPILES", compiled.__class__.__name__ != "function" or hasattr(compiled, "_torchdynamo_orig_callable"))
"""


def _probe(args: dict) -> dict:
    _needs_bitsandbytes_and_peft()
    proc = _python("-c", BNB_PROBE.format(args=args))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if line.split(" ", 1)[0].isupper())


def test_a_run_without_bitsandbytes_imports_it_without_compiling_its_kernels():
    seen = _probe({"quant_method": None, "optim": "adamw_torch"})
    assert seen["EARLY"] == "False" and seen["BNB"] == "True"
    assert seen["INDUCTOR"] == "False"  # torch._inductor was not imported by bitsandbytes' torch.compile calls
    assert seen["ENV"] == "None"  # the switch is off again afterwards
    assert seen["COMPILES"] == "True"  # and torch.compile works for everyone else


def test_a_run_that_quantizes_or_optimizes_with_bitsandbytes_keeps_its_compiled_kernels():
    assert _probe({"quant_method": "bnb", "optim": "adamw_torch"})["INDUCTOR"] == "True"
    assert _probe({"quant_method": None, "optim": "paged_adamw_8bit"})["INDUCTOR"] == "True"
