"""The cheaper PeftModel.disable_adapter of trl's reference forward (swiftk_sft.adapter_toggle): the base
model's outputs inside, the adapter's after, requires_grad as peft leaves it, layers that were off stay off,
the layer list follows added and deleted adapters, and prompt-learning adapters keep peft's context."""

from __future__ import annotations

import torch

from swiftk_sft import adapter_toggle


def tiny_qwen2():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2))  # fmt: skip


def lora(model, **extra):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], **extra))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.5)
    return peft_model


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=ids).logits


def grads_flags(model):
    return {name: param.requires_grad for name, param in model.named_parameters()}


def test_inside_is_the_base_model_and_after_is_the_adapter_as_with_peft():
    ids = torch.randint(0, 97, (2, 9))
    base = logits(tiny_qwen2(), ids)
    model = lora(tiny_qwen2(), modules_to_save=["lm_head"])
    model.base_model.model.lm_head.modules_to_save["default"].weight.data.mul_(2)  # the trained copy differs
    adapted, flags = logits(model, ids), grads_flags(model)
    with model.disable_adapter():
        inside_peft, flags_peft = logits(model, ids), grads_flags(model)
    assert adapter_toggle.install(model)
    assert not adapter_toggle.install(model)  # once
    with model.disable_adapter():
        assert model._adapters_disabled
        torch.testing.assert_close(logits(model, ids), base)
        torch.testing.assert_close(logits(model, ids), inside_peft)
        assert grads_flags(model) == flags_peft
    assert not model._adapters_disabled
    torch.testing.assert_close(logits(model, ids), adapted)
    assert grads_flags(model) == flags and any(flags.values())
    assert not torch.allclose(adapted, base)


def test_layers_that_were_off_stay_off_and_the_list_follows_the_adapters():
    from peft import LoraConfig
    from peft.tuners.tuners_utils import BaseTunerLayer

    ids = torch.randint(0, 97, (1, 7))
    model = lora(tiny_qwen2())
    assert adapter_toggle.install(model)
    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    layers[0].enable_adapters(False)  # one layer off before
    partly = logits(model, ids)
    with model.disable_adapter():
        pass
    assert layers[0].disable_adapters and not any(layer.disable_adapters for layer in layers[1:])
    torch.testing.assert_close(logits(model, ids), partly)

    layers[0].enable_adapters(True)
    model.add_adapter("other", LoraConfig(r=2, target_modules=["k_proj"]))  # new layers on k_proj
    new = [m for m in model.modules() if isinstance(m, BaseTunerLayer) and m not in layers]
    assert new
    with model.disable_adapter():
        assert all(layer.disable_adapters for layer in layers + new)
    assert not any(layer.disable_adapters for layer in layers + new)


def test_prompt_learning_keeps_peft_context():
    from peft import PromptTuningConfig, get_peft_model

    model = get_peft_model(tiny_qwen2(), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=3))
    assert not adapter_toggle.install(model)
    assert not adapter_toggle.install(tiny_qwen2())  # not a PeftModel
