"""swiftk.startup.startup_phase: no collection passes inside, the survivors frozen after, nesting."""

from __future__ import annotations

import gc

from swiftk.startup import startup_phase


def test_collection_is_off_inside_and_back_on_after_with_survivors_frozen():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with startup_phase():
            assert not gc.isenabled()
            kept = [[i] for i in range(1000)]
            with startup_phase():  # nested: the outer block still runs without collection
                pass
            assert not gc.isenabled()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(kept)
    finally:
        gc.unfreeze()


def test_collection_stays_off_after_when_it_was_off_before():
    gc.disable()
    try:
        with startup_phase():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_an_error_inside_turns_collection_back_on():
    try:
        with startup_phase():
            raise KeyError("x")
    except KeyError:
        pass
    finally:
        gc.unfreeze()
    assert gc.isenabled()


# --- bitsandbytes without torch.compile -------------------------------------------------------

BNB_PROBE = """
import os, sys
from swiftk.startup import startup_phase
args = {args!r}
with startup_phase(type("Args", (dict,), {{"get": dict.get}})(args)):
    print("EARLY", "bitsandbytes" in sys.modules)  # not imported by swiftk itself: infer and deploy may never need it
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
    import importlib.util
    import subprocess
    import sys

    from kernel_support import swiftk_env

    if importlib.util.find_spec("bitsandbytes") is None or importlib.util.find_spec("peft") is None:
        import pytest

        pytest.skip("bitsandbytes or peft is not installed")
    proc = subprocess.run(
        [sys.executable, "-c", BNB_PROBE.format(args=args)],
        capture_output=True,
        text=True,
        env=swiftk_env(),
        timeout=300,
    )
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
