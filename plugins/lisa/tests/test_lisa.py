"""LISA through the tuner contract suite (full training), and its callback on its own."""

from __future__ import annotations

import types

import pytest

from swiftk.testing.tuners import TunerContract


class TestLisa(TunerContract):
    train_type = "full"
    extra_args = ("--lisa_activated_layers", "1", "--lisa_step_interval", "5")
    learning_rate = 1e-3

    def expected_trainable_params(self, model, args):
        total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
        block = sum(p.numel() for p in model.model.layers[0].parameters())
        return total - (model.config.num_hidden_layers - 1) * block


def _args(**values):
    ns = types.SimpleNamespace(lisa_activated_layers=2, lisa_step_interval=3, seed=42, **values)
    ns.get = lambda k, d=None: getattr(ns, k, d)
    return ns


def _model():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    return Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=4,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )


def test_layers_are_redrawn_every_interval_and_the_draw_is_seeded():
    from swiftk_lisa.callback import LisaCallback

    model = _model()
    callback = LisaCallback(_args())
    state = types.SimpleNamespace(global_step=0)
    callback.on_train_begin(None, state, None, model=model)
    first = list(callback.active)
    assert len(first) == 2
    trainable = [i for i, block in enumerate(model.model.layers) if all(p.requires_grad for p in block.parameters())]
    assert trainable == first
    assert model.model.embed_tokens.weight.requires_grad and model.lm_head.weight.requires_grad
    draws = set()
    for step in range(1, 30):
        state.global_step = step
        callback.on_step_begin(None, state, None, model=model)
        if step % 3 == 0:
            draws.add(tuple(callback.active))
        else:
            assert len(draws) == 0 or tuple(callback.active) in draws
    assert len(draws) > 1  # it does change
    again = LisaCallback(_args())
    assert again.switch(_model(), 27) == callback.switch(_model(), 27)  # same seed and step: same layers


def test_too_many_layers_is_a_clear_error():
    from swiftk.errors import UsageError
    from swiftk_lisa.callback import LisaCallback

    callback = LisaCallback(_nine())
    with pytest.raises(UsageError, match="--lisa_activated_layers 9: the model has only 4 layers"):
        callback.on_train_begin(None, types.SimpleNamespace(global_step=0), None, model=_model())


def _nine():
    ns = types.SimpleNamespace(lisa_activated_layers=9, lisa_step_interval=3, seed=0)
    ns.get = lambda k, d=None: getattr(ns, k, d)
    return ns
