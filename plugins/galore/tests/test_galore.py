"""--use_galore through the tuner contract suite (full training: the checkpoint is the model), and
the optimizer factory on its own."""

from __future__ import annotations

import types

import pytest

from swiftk.testing.tuners import TunerContract

pytest.importorskip("galore_torch", reason="swift-plugin-galore needs galore-torch (requirements/cpu.txt)")

GALORE = ("--use_galore", "true", "--galore_rank", "8", "--galore_update_proj_gap", "5", "--galore_scale", "0.5")


def _total(model):
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


class TestGalore(TunerContract):
    train_type = "full"
    extra_args = GALORE
    learning_rate = 2e-3

    def expected_trainable_params(self, model, args):
        return _total(model)

    def test_the_galore_optimizer_was_used(self, tuned):
        assert tuned.args.optimizer == "galore"
        assert "GaLore on 28 weights" in tuned.stdout  # 7 linear layers x 4 blocks of tiny-chat


@pytest.mark.slow
@pytest.mark.skipif(__import__("importlib").util.find_spec("q_galore_torch") is None, reason="needs q-galore-torch")
class TestQGalore(TestGalore):
    extra_args = GALORE + (
        "--galore_quantization",
        "true",
        "--galore_proj_quant",
        "true",
        "--galore_proj_bits",
        "4",
        "--galore_proj_group_size",
        "256",
        "--galore_cos_threshold",
        "0.4",
        "--galore_gamma_proj",
        "2",
        "--galore_queue_size",
        "5",
        "--galore_with_embedding",
        "true",
    )

    def test_the_galore_optimizer_was_used(self, tuned):
        assert tuned.args.optimizer == "galore"
        assert "GaLore on 29 weights" in tuned.stdout  # and the embedding


def _args(**overrides):
    values = dict(
        learning_rate=1e-3,
        weight_decay=0.0,
        adam_beta1=0.9,
        adam_beta2=0.999,
        adam_epsilon=1e-8,
        optim="adamw_torch",
        galore_rank=4,
        galore_update_proj_gap=2,
        galore_scale=1.0,
        galore_proj_type="std",
        galore_optim_per_parameter=False,
        galore_with_embedding=False,
        galore_quantization=False,
        galore_proj_quant=False,
        galore_proj_bits=4,
        galore_proj_group_size=256,
        galore_cos_threshold=0.4,
        galore_gamma_proj=2,
        galore_queue_size=5,
        galore_target_modules=None,
        gradient_accumulation_steps=1,
    )
    values.update(overrides)
    ns = types.SimpleNamespace(**values)
    ns.get = lambda k, d=None: getattr(ns, k, d)
    return ns


def _tiny():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    return Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=64,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    )


def _train(model, optimizer, steps=3):
    import torch

    ids = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(0))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(steps):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def test_per_parameter_galore_steps_from_gradient_hooks():
    from swiftk_galore.optim import create_galore_optimizer
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    model = _tiny()
    optimizer, scheduler = create_galore_optimizer(_args(galore_optim_per_parameter=True), model)
    assert isinstance(optimizer, LayerWiseDummyOptimizer) and scheduler is None
    changed = _train(model, optimizer)
    assert "model.layers.0.self_attn.q_proj.weight" in changed and "model.norm.weight" in changed


def test_per_parameter_galore_accumulates_gradients_like_the_grouped_optimizer():
    """With gradient accumulation the hooks step only on the micro-batch that ends the window (the Trainer
    marks it in accelerate's GradientState): two windows of two micro-batches move every weight exactly as
    the one grouped GaLore optimizer stepping on the summed gradients does."""
    import torch
    from accelerate.state import GradientState

    from swiftk_galore.optim import create_galore_optimizer

    batches = [torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(i)) for i in range(4)]
    layerwise, grouped = _tiny(), _tiny()
    per_param, _ = create_galore_optimizer(
        _args(galore_optim_per_parameter=True, gradient_accumulation_steps=2), layerwise
    )
    together, _ = create_galore_optimizer(_args(gradient_accumulation_steps=2), grouped)
    state = GradientState()
    try:
        for i, ids in enumerate(batches):
            state._set_sync_gradients(i % 2 == 1)  # as the Trainer does before each micro-batch
            (layerwise(input_ids=ids, labels=ids).loss / 2).backward()
            (grouped(input_ids=ids, labels=ids).loss / 2).backward()
            if i % 2 == 1:
                together.step()
                together.zero_grad()
            else:  # mid-window: nothing stepped, the gradient kept for the next micro-batch
                assert layerwise.model.layers[0].mlp.up_proj.weight.grad is not None
    finally:
        state._set_sync_gradients(True)
    a, b, initial = dict(layerwise.named_parameters()), dict(grouped.named_parameters()), _tiny().state_dict()
    moved = [n for n in a if not torch.equal(a[n], initial[n])]
    assert "model.layers.0.self_attn.q_proj.weight" in moved
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-6, msg=name)


def test_target_modules_and_the_galore_group():
    from swiftk_galore.optim import create_galore_optimizer

    model = _tiny()
    optimizer, _ = create_galore_optimizer(_args(galore_target_modules=["q_proj", "v_proj"]), model)
    galore_group = optimizer.param_groups[0]
    assert galore_group["rank"] == 4 and len(galore_group["params"]) == 4  # q and v of 2 blocks
    changed = _train(model, optimizer, steps=2)
    assert "model.layers.1.self_attn.v_proj.weight" in changed


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(galore_proj_type="diagonal"), "--galore_proj_type diagonal"),
        (dict(galore_quantization=True, galore_proj_type="left"), "supports only std"),
        (dict(optim="sgd"), "--optim sgd"),
        (dict(galore_target_modules=["nothing_like_this"]), "matches no trainable linear layer"),
    ],
)
def test_bad_settings_are_one_line_errors(overrides, message):
    from swiftk.errors import UsageError
    from swiftk_galore.optim import create_galore_optimizer

    with pytest.raises(UsageError, match=message):
        create_galore_optimizer(_args(**overrides), _tiny())


@pytest.mark.skipif(__import__("importlib").util.find_spec("q_galore_torch") is None, reason="needs q-galore-torch")
def test_q_galore_quantizes_projections_and_its_state_pickles():
    import io

    import torch

    from swiftk_galore.optim import create_galore_optimizer
    from swiftk_galore.qgalore import QGaLoreProjector

    model = _tiny()
    optimizer, _ = create_galore_optimizer(
        _args(galore_quantization=True, galore_proj_quant=True, galore_proj_group_size=64), model
    )
    changed = _train(model, optimizer, steps=2)
    assert "model.layers.0.mlp.down_proj.weight" in changed
    projectors = [s["projector"] for s in optimizer.state.values() if "projector" in s]
    assert projectors and all(isinstance(p, QGaLoreProjector) for p in projectors)
    assert all(p.ortho_matrix.dtype == torch.uint8 for p in projectors)  # quantized projections
    torch.save(optimizer.state_dict(), io.BytesIO())  # optimizer.pt can be written
