"""The tuner contract's comparisons (swiftk.testing.tuners) are deterministic: logits are computed in
float64 on the model's exact weights, a reload that gives back the same weights must match to 1e-9,
and weights that were re-expressed (merged, PiSSA's converted adapter) get the tolerance of one
float32 rounding per weight."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from swiftk.testing.tuners import TunerContract, logits_of, weights_digest  # noqa: E402


def _model():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return Qwen2ForCausalLM(config).eval()


def _inputs():
    ids = torch.randint(3, 128, (2, 24), generator=torch.Generator().manual_seed(1234))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def test_float64_logits_leave_the_model_exactly_as_it_was():
    model = _model()
    before = weights_digest(model)
    logits = logits_of(model, _inputs(), "float64")
    assert logits.dtype == torch.float64
    assert weights_digest(model) == before  # every parameter and buffer back in float32, bit for bit
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert torch.allclose(logits.float(), logits_of(model, _inputs()), atol=1e-4)


def test_a_reload_of_the_same_weights_gives_the_same_float64_logits_with_any_thread_count(tmp_path):
    from transformers import AutoModelForCausalLM

    model = _model()
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
    assert weights_digest(again) == weights_digest(model)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = logits_of(model, _inputs(), "float64")
        torch.set_num_threads(2)
        two = logits_of(again, _inputs(), "float64")
    finally:
        torch.set_num_threads(threads)
    assert torch.allclose(one, two, atol=TunerContract.atol, rtol=TunerContract.rtol)


def test_re_expressed_weights_differ_by_one_float32_rounding_well_inside_the_merge_tolerance():
    """What PiSSA's converted adapter does: the trained W_res + D, rebuilt as W + (D - D0) from the
    original W; here each linear weight becomes fl32(fl32(W - D) + D) for a low-rank D."""
    model = _model()
    rebuilt = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in rebuilt.modules():
            if isinstance(module, torch.nn.Linear):
                out_features, in_features = module.weight.shape
                low_rank = torch.randn(out_features, 4, generator=generator) @ torch.randn(
                    4, in_features, generator=generator
                )
                module.weight.copy_((module.weight - 0.05 * low_rank) + 0.05 * low_rank)
    assert weights_digest(rebuilt) != weights_digest(model)  # the contract then allows merge_atol / merge_rtol
    exact, other = logits_of(model, _inputs(), "float64"), logits_of(rebuilt, _inputs(), "float64")
    assert not torch.allclose(exact, other, atol=TunerContract.atol, rtol=TunerContract.rtol)
    assert torch.allclose(exact, other, atol=TunerContract.merge_atol / 10, rtol=TunerContract.merge_rtol / 10)
