"""The reward model's forward without padding (swiftk_rlhf.packed_rewards): the same rewards and gradients
as the classifier's own forward, full and under LoRA (score head in modules_to_save), with right and left
padding; the classifier's own forward wherever packing does not apply."""

from __future__ import annotations

import pytest
import torch

from swiftk_rlhf import packed_rewards
from swiftk_sft import plain_head

PAD = 0


def tiny_classifier(**config):
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    torch.manual_seed(0)
    base = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=64, num_labels=1, pad_token_id=PAD)  # fmt: skip
    return Qwen2ForSequenceClassification(Qwen2Config(**{**base, **config}))


def with_lora(model):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], modules_to_save=["score"], task_type="SEQ_CLS")
    peft_model = get_peft_model(model, config)
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.05)
    return peft_model


def pairs(left_padded: bool = False):
    """trl's rm batch: two chosen rows, then two rejected rows, padded to the longest with the pad token."""
    torch.manual_seed(1)
    lengths = [11, 7, 9, 4]
    ids = torch.full((4, 11), PAD)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        span = slice(11 - length, 11) if left_padded else slice(0, length)
        ids[row, span] = torch.randint(1, 97, (length,))
        mask[row, span] = 1
    return ids, mask


def rewards_and_grads(model, ids, mask):
    model.zero_grad()
    rewards = model(input_ids=ids, attention_mask=mask).logits
    chosen, rejected = rewards.squeeze(-1).chunk(2)
    (-torch.nn.functional.logsigmoid(chosen - rejected).mean()).backward()
    return rewards.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("lora", [False, True])
@pytest.mark.parametrize("left_padded", [False, True])
def test_packed_rewards_and_gradients_are_the_classifiers(lora, left_padded, monkeypatch):
    wrap = with_lora if lora else (lambda model: model)
    reference = wrap(tiny_classifier())
    packed = wrap(tiny_classifier())
    packed.load_state_dict(reference.state_dict())
    ids, mask = pairs(left_padded)
    expected, expected_grads = rewards_and_grads(reference, ids, mask)

    assert packed_rewards.install(packed)
    assert not packed_rewards.install(packed)  # once
    hidden = []
    original = plain_head.unpadded_hidden
    monkeypatch.setattr(plain_head, "unpadded_hidden", lambda *a: hidden.append(original(*a)) or hidden[-1])
    got, grads = rewards_and_grads(packed, ids, mask)

    assert len(hidden) == 1 and hidden[0] is not None, "the packed path did not run"
    assert got.shape == (4, 1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    assert grads.keys() == expected_grads.keys() and grads
    if lora:
        assert any("lora_A" in name for name in grads) and any("modules_to_save" in name for name in grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6)


def test_the_classifiers_own_forward_runs_where_packing_does_not_apply(monkeypatch):
    ids, mask = pairs()
    model = tiny_classifier()
    with torch.no_grad():
        plain = model(input_ids=ids, attention_mask=mask).logits
        unpadded_rows = model(input_ids=ids[:1], attention_mask=mask[:1]).logits
    assert packed_rewards.install(model)
    with torch.no_grad():
        monkeypatch.setenv("SWIFTK_PADDING_FREE", "0")
        torch.testing.assert_close(model(input_ids=ids, attention_mask=mask).logits, plain)
        monkeypatch.delenv("SWIFTK_PADDING_FREE")
        torch.testing.assert_close(model(input_ids=ids[:1], attention_mask=mask[:1]).logits, unpadded_rows)
        labelled = model(input_ids=ids, attention_mask=mask, labels=torch.zeros(4, 1))
        assert labelled.loss is not None  # labels: the classifier's own forward and loss
        torch.testing.assert_close(labelled.logits, plain)

    windowed = tiny_classifier(use_sliding_window=True, sliding_window=4)
    assert packed_rewards.install(windowed)
    with torch.no_grad():
        torch.testing.assert_close(windowed(input_ids=ids, attention_mask=mask).logits,
                                   tiny_classifier(use_sliding_window=True, sliding_window=4)(input_ids=ids, attention_mask=mask).logits)  # fmt: skip

    from transformers import Qwen2Config, Qwen2ForCausalLM

    assert not packed_rewards.install(Qwen2ForCausalLM(Qwen2Config(vocab_size=97, hidden_size=32, num_hidden_layers=1,
                                                                   num_attention_heads=4, num_key_value_heads=2)))  # fmt: skip
