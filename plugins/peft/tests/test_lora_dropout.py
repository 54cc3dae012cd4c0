"""LoRA's CPU dropout: dropout's distribution and gradient, reproducible, and in every LoRA layer peft makes."""

from __future__ import annotations

import pytest
import torch

from swiftk_peft.dropout import LoraDropout, use_lora_dropout


@pytest.mark.parametrize("p", [0.05, 0.1, 0.5])
def test_masks_drop_with_probability_p_and_keep_the_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(2_000_000)
    y = LoraDropout(p).train()(x)
    dropped = (y == 0).float().mean().item()
    # 2·10^6 draws: the standard error of the fraction is under 4·10^-4
    assert abs(dropped - p) < 2e-3
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, kept[0].item()))
    assert abs(kept[0].item() - 1 / (1 - p)) < 1e-4  # the inverse keep probability
    assert abs(y.mean().item() - 1.0) < 5e-3


def test_elements_are_dropped_independently_of_their_neighbours():
    torch.manual_seed(1)
    y = LoraDropout(0.5).train()(torch.ones(1_000_000)) == 0
    # the four lanes of each 64-bit word, and neighbouring words, are independent
    for shift in (1, 2, 3, 4, 5):
        both = (y[:-shift] & y[shift:]).float().mean().item()
        assert abs(both - 0.25) < 3e-3, shift


def test_gradient_is_the_mask_times_the_scale_and_eval_is_identity():
    torch.manual_seed(2)
    layer = LoraDropout(0.2).train()
    x = torch.randn(4, 7, 33, requires_grad=True)
    y = layer(x)
    y.sum().backward()
    assert torch.allclose(x.grad, y.detach() / x.detach())
    layer.eval()
    assert torch.equal(layer(x), x)


def test_the_same_seed_gives_the_same_masks():
    layer = LoraDropout(0.1).train()
    torch.manual_seed(3)
    a = layer(torch.ones(1000))
    torch.manual_seed(3)
    assert torch.equal(layer(torch.ones(1000)), a)


def test_every_lora_layer_peft_makes_gets_it():
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = get_peft_model(Qwen2ForCausalLM(config), LoraConfig(r=4, lora_dropout=0.05, target_modules="all-linear"))
    assert use_lora_dropout(model) == 14  # 7 linear layers in each of 2 blocks
    assert all(type(m) is LoraDropout and m.p == 0.05 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    none = get_peft_model(Qwen2ForCausalLM(config), LoraConfig(r=4, lora_dropout=0.0, target_modules="all-linear"))
    assert use_lora_dropout(none) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("p", [0.05, 0.5, 0.9])
def test_the_integer_mask_is_the_lane_comparison_so_fixed_seed_runs_keep_their_losses(p, dtype):
    """The masks are computed without bool tensors (speed), and equal, bit for bit, what ``lanes >= threshold``
    gives from the same 64-bit words: a fixed-seed LoRA run's losses do not change with the faster form."""
    x = torch.randn(3, 50, 257).to(dtype)
    dropout = LoraDropout(p).train()
    torch.manual_seed(7)
    got = dropout(x)
    torch.manual_seed(7)
    lanes_total, n = 1 << 15, x.numel()
    threshold = round(p * lanes_total)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_()
    lanes = words.view(torch.int16)[:n].view(x.shape) & (lanes_total - 1)
    scale = lanes_total / (lanes_total - threshold)
    if dtype == torch.float32:
        expected = x * ((lanes >= threshold) * scale)
    else:
        expected = (x * (lanes >= threshold).to(dtype)).mul_(scale)
    assert torch.equal(got, expected)
