"""The quantizer contract suite catches what it promises: it fails on broken quantizers and passes on
contrib/swiftk-example-quant's ``half`` (run as a third party would, by pytest in a subprocess)."""

from __future__ import annotations

import pytest

from kernel_support import CONTRIB
from test_contract_suites_more import run_suite

HALF = CONTRIB / "swiftk-example-quant"

BROKEN_QUANTIZERS = '''
import os

import swiftk
from swiftk.api import QuantizerSpec, UsageError


def save_half(args, model_dir, output_dir):
    import torch
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float16).save_pretrained(output_dir)


def noise(args, model_dir, output_dir):          # "quantizes" every weight into noise
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    model.save_pretrained(output_dir)


def nothing(args, model_dir, output_dir):        # writes no model
    open(os.path.join(output_dir, "notes.txt"), "w").write("todo")


def never_refuses(args):                          # --quant_bits 3 is accepted, then ignored
    pass


def lossy_load(model, args, torch_dtype):         # at load time, zeroes the attention output projections
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if "o_proj" in name:
                p.zero_()


@swiftk.hookimpl
def register_quantizers(register):
    register("noisy", QuantizerSpec(export=noise))
    register("writes_nothing", QuantizerSpec(export=nothing))
    register("lax", QuantizerSpec(check=never_refuses, export=save_half))
    register("lossy_load", QuantizerSpec(after_load=lossy_load, export=save_half))
'''


@pytest.mark.slow
def test_quantizer_suite_fails_on_broken_quantizers(tmp_path):
    half_plugin = str(HALF / "swiftk_example_quant" / "plugin.py")
    code, out = run_suite(
        tmp_path,
        {"third_party": BROKEN_QUANTIZERS},
        f"""
        from swiftk.testing.quantizers import QuantizerContract

        class TestNoisy(QuantizerContract):
            quant_method = "noisy"
            plugins = ("third_party.py",)

        class TestWritesNothing(QuantizerContract):
            quant_method = "writes_nothing"
            plugins = ("third_party.py",)

        class TestLax(QuantizerContract):
            quant_method = "lax"
            plugins = ("third_party.py",)
            refused = [(("--quant_bits", "3"), "--quant_bits 3")]

        class TestLossyLoad(QuantizerContract):
            quant_method = "lossy_load"
            plugins = ("third_party.py",)

        class TestHalf(QuantizerContract):
            quant_method = "half"
            plugins = ({half_plugin!r},)
            refused = [(("--quant_bits", "4"), "--quant_bits 4 is not possible")]
            min_agreement = 0.95
    """,
        env={"PYTHONPATH": str(HALF)},
    )
    assert code == 1, out
    summary = out.split("short test summary")[-1]
    assert "TestNoisy::test_the_export_reloads_and_agrees" in summary
    assert "quantizer 'noisy' (reloaded from" in out
    assert "TestNoisy::test_export_completes_in_place" not in summary  # only what is broken fails
    assert "TestWritesNothing::test_export_completes_in_place" in summary
    assert "the quantizer wrote no config.json" in out
    assert "TestLax::test_check_refuses_before_anything_is_written" in summary
    assert "export with ['--quant_bits', '3'] was not refused" in out
    assert "TestLax::test_the_export_reloads_and_agrees" not in summary
    assert "TestLossyLoad::test_the_load_step_agrees" in summary
    assert "TestLossyLoad::test_the_export_reloads_and_agrees" not in summary
    assert "TestHalf" not in summary
