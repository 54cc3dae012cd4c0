"""The cheaper gradient-checkpointing switch around trl's reference forwards (swiftk_sft.checkpointing_toggle):
inside trl's own context every layer runs without checkpointing, after it the same layers checkpoint again with
the same function, without transformers' enable path (its deprecation warning); layers that were off stay off;
any other enable (other arguments, after a disable that found nothing checkpointed) is transformers' own; a deep
copy switches its own layers; and a training step's loss and gradients are those of the plain model."""

from __future__ import annotations

import warnings

import torch

from swiftk_sft import checkpointing_toggle
from test_adapter_toggle import lora, tiny_qwen2


def flagged(model) -> list:
    return [m for m in model.modules() if hasattr(m, "gradient_checkpointing")]


def trl_reference_pass(model, ids, kwargs):
    """What trl's trainers do for a reference forward; the warnings its switch emitted, the flags inside."""
    from trl.models.utils import disable_gradient_checkpointing

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad(), disable_gradient_checkpointing(model, kwargs):
            inside = [m.gradient_checkpointing for m in flagged(model)]
            model(input_ids=ids)
    return [str(w.message) for w in caught], inside


def loss_and_grads(model, ids):
    model.zero_grad()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_trls_context_clears_and_restores_the_flags_without_enabling_again():
    ids = torch.randint(0, 97, (2, 9))
    kwargs = {"use_reentrant": False}
    for model in (lora(tiny_qwen2()), tiny_qwen2()):  # a PeftModel and a full model
        model.train()
        model.gradient_checkpointing_enable(kwargs)
        messages, _ = trl_reference_pass(model, ids, kwargs)
        assert any("gradient_checkpointing_enable" in m for m in messages)  # transformers' own path, re-enabling
        assert checkpointing_toggle.install(model)
        assert not checkpointing_toggle.install(model)  # once
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)  # the Trainer's, at train()
        before = [(m.gradient_checkpointing, m._gradient_checkpointing_func) for m in flagged(model)]
        assert any(flag for flag, _ in before)
        messages, inside = trl_reference_pass(model, ids, kwargs)
        assert inside and not any(inside)
        assert not any("gradient_checkpointing_enable" in m or "_disable" in m for m in messages), messages
        assert [(m.gradient_checkpointing, m._gradient_checkpointing_func) for m in flagged(model)] == before


def test_layers_that_were_off_stay_off_and_other_enables_are_transformers_own():
    ids = torch.randint(0, 97, (1, 7))
    model = lora(tiny_qwen2())
    model.train()
    assert checkpointing_toggle.install(model)
    assert not model.is_gradient_checkpointing
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # the Trainer's
    layers = model.base_model.model.model.layers
    assert all(layer.gradient_checkpointing for layer in layers)
    layers[0].gradient_checkpointing = False  # one layer not checkpointed
    trl_reference_pass(model, ids, {"use_reentrant": False})
    assert not layers[0].gradient_checkpointing and all(layer.gradient_checkpointing for layer in layers[1:])
    model.gradient_checkpointing_disable()
    assert not model.is_gradient_checkpointing
    model.gradient_checkpointing_enable({"use_reentrant": False})  # right after a disable: the flags as they were
    assert not layers[0].gradient_checkpointing and layers[1].gradient_checkpointing

    func = layers[1]._gradient_checkpointing_func
    model.gradient_checkpointing_disable()
    model.gradient_checkpointing_enable({"use_reentrant": True})  # other arguments: transformers' enable
    assert all(layer.gradient_checkpointing for layer in layers) and layers[1]._gradient_checkpointing_func != func
    assert layers[1]._gradient_checkpointing_func.keywords == {"use_reentrant": True}

    for layer in flagged(model):
        layer.gradient_checkpointing = False
    model.gradient_checkpointing_disable()  # nothing was checkpointed
    model.gradient_checkpointing_enable({"use_reentrant": True})
    assert all(layer.gradient_checkpointing for layer in layers)


def test_a_deep_copy_switches_its_own_layers():
    import copy

    model = tiny_qwen2()
    model.train()
    assert checkpointing_toggle.install(model)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    twin = copy.deepcopy(model)
    twin.gradient_checkpointing_disable()
    assert not twin.is_gradient_checkpointing and model.is_gradient_checkpointing
    twin.gradient_checkpointing_enable({"use_reentrant": False})
    assert twin.is_gradient_checkpointing


def test_a_training_step_after_reference_passes_has_the_plain_models_loss_and_gradients():
    ids = torch.randint(0, 97, (2, 11))
    kwargs = {"use_reentrant": False}
    results = []
    for install in (False, True):
        model = lora(tiny_qwen2())
        model.train()
        model.gradient_checkpointing_enable(kwargs)
        if install:
            assert checkpointing_toggle.install(model)
        for _ in range(2):
            trl_reference_pass(model, ids, kwargs)
            results.append((install, loss_and_grads(model, ids)))
    plain = [r for installed, r in results if not installed]
    cheap = [r for installed, r in results if installed]
    for (loss_a, grads_a), (loss_b, grads_b) in zip(plain, cheap):
        torch.testing.assert_close(loss_a, loss_b)
        assert grads_a.keys() == grads_b.keys() and grads_a
        for name in grads_a:
            torch.testing.assert_close(grads_a[name], grads_b[name])
