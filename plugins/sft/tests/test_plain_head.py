"""The plain LM head that replaces trl's chunked one on CPU (swiftk_sft.plain_head): the same per-token
log-probabilities, entropy, mean logits, top-1 flags and gradients as trl's head, at any temperature, under
a LoRA adapter; trl's head where the logits would not fit or need scaling; and a DPO run whose losses are
the same step by step with either head."""

from __future__ import annotations

import json

import pytest
import torch
from test_sft_e2e import swiftk
from trl.trainer.utils import add_fused_lm_head

from swiftk_sft import plain_head

OUTPUTS = ("log_probs", "entropy", "mean_logits", "is_top1")


def tiny_qwen2(**config):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    base = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, max_position_embeddings=64)  # fmt: skip
    return Qwen2ForCausalLM(Qwen2Config(**{**base, **config}))


def batch():
    """Three rows: one without padding, one left-padded (as GRPO's prompts), one right-padded (as DPO's)."""
    torch.manual_seed(1)
    ids = torch.randint(0, 97, (3, 12))
    labels = ids.clone()
    labels[:, :5] = -100  # the prompt
    labels[2, 9:] = -100  # padding
    attention_mask = torch.ones_like(ids)
    attention_mask[1, :2] = 0
    attention_mask[2, 9:] = 0
    return ids, labels, attention_mask


def with_lora(model):
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "up_proj"]))
    for name, param in peft_model.named_parameters():
        if "lora_B" in name:  # not zero: the gradient of lora_A depends on it
            torch.nn.init.normal_(param, std=0.05)
    return peft_model


def outputs_and_grads(peft_model, temperature):
    ids, labels, attention_mask = batch()
    peft_model.zero_grad()
    out = peft_model(input_ids=ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    (out.log_probs.sum() + 0.1 * out.entropy.sum()).backward()
    grads = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.grad is not None}
    return {name: getattr(out, name).detach() for name in OUTPUTS}, out.loss.detach(), grads


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("padding_free", ["1", "0"])
def test_the_plain_head_computes_what_trls_head_computes(temperature, padding_free, monkeypatch):
    """Also run end to end without the padding (SWIFTK_PADDING_FREE=1, the default): the same numbers."""
    monkeypatch.setenv("SWIFTK_PADDING_FREE", padding_free)
    reference = with_lora(tiny_qwen2())
    add_fused_lm_head(reference.get_base_model(), temperature=temperature, outputs=OUTPUTS)
    expected, expected_loss, expected_grads = outputs_and_grads(reference, temperature)

    plain = with_lora(tiny_qwen2())
    plain.load_state_dict(reference.state_dict())
    add_fused_lm_head(plain.get_base_model(), temperature=temperature, outputs=OUTPUTS)
    assert plain_head.install(plain.get_base_model(), temperature=temperature, outputs=OUTPUTS)
    calls, unpadded = [], []
    original, original_unpadded = plain_head._plain_head, plain_head.unpadded_hidden
    monkeypatch.setattr(plain_head, "_plain_head", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(
        plain_head, "unpadded_hidden", lambda *a: unpadded.append(original_unpadded(*a)) or unpadded[-1]
    )
    got, loss, grads = outputs_and_grads(plain, temperature)

    assert calls, "the plain head did not run"
    assert [hidden is not None for hidden in unpadded] == [padding_free == "1"]
    ids, labels, _ = batch()
    mask = labels[:, 1:] != -100
    for name in ("log_probs", "entropy", "mean_logits"):
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-5)
        assert not got[name][~mask].any()  # zero where nothing is scored
    assert torch.equal(got["is_top1"], expected["is_top1"])
    torch.testing.assert_close(loss, expected_loss, rtol=1e-6, atol=1e-6)
    assert grads.keys() == expected_grads.keys() and len(grads) == 12  # lora_A and lora_B of 3 modules x 2 layers
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6)


def test_trls_head_runs_where_the_logits_would_not_fit_or_are_scaled(monkeypatch):
    model = tiny_qwen2()
    add_fused_lm_head(model, outputs=OUTPUTS)
    trl_forward = model.forward
    assert plain_head.install(model, outputs=OUTPUTS)
    assert not plain_head.install(model, outputs=OUTPUTS)  # once
    ids, labels, _ = batch()
    monkeypatch.setattr(plain_head, "MAX_LOGITS", 97 * int((labels[:, 1:] != -100).sum()) - 1)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids, labels=labels, fused_lm_head=True).log_probs,
                                   trl_forward(input_ids=ids, labels=labels, fused_lm_head=True).log_probs)  # fmt: skip

    softcapped = tiny_qwen2()
    softcapped.config.final_logit_softcapping = 30.0
    add_fused_lm_head(softcapped)
    assert not plain_head.install(softcapped)
    assert not plain_head.install(tiny_qwen2())  # trl never patched it: nothing to wrap


def test_generation_and_the_plain_forward_are_untouched():
    model = tiny_qwen2()
    ids, _, _ = batch()
    with torch.no_grad():
        before = model(input_ids=ids).logits
    add_fused_lm_head(model, outputs=OUTPUTS)
    plain_head.install(model, outputs=OUTPUTS)
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits, before)
    generated = model.generate(ids[:1, :4], max_new_tokens=3, do_sample=False, attention_mask=torch.ones(1, 4))
    assert generated.shape == (1, 7)


@pytest.mark.slow
def test_a_dpo_run_logs_the_same_losses_with_either_head(tmp_path):
    calls = tmp_path / "heads.txt"
    trl_head = tmp_path / "trl_head.py"  # trl's head everywhere, each call of the plain one written down
    trl_head.write_text(
        "import swiftk_sft.plain_head as head\n"
        "head.MAX_LOGITS = 0\n"
        "plain = head._plain_head\n"
        "def counted(*args):\n"
        "    result = plain(*args)\n"
        f"    with open({str(calls)!r}, 'a') as f:\n"
        "        f.write('plain\\n' if result is not None else 'trl\\n')\n"
        "    return result\n"
        "head._plain_head = counted\n"
    )
    common = ["--rlhf_type", "dpo", "--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-dpo", "--max_steps",
              "4", "--per_device_train_batch_size", "2", "--logging_steps", "1", "--report_to", "none",
              "--save_strategy", "no", "--split_dataset_ratio", "0"]  # fmt: skip
    swiftk("rlhf", *common, "--output_dir", str(tmp_path / "plain"))
    swiftk("rlhf", *common, "--output_dir", str(tmp_path / "trl"), "--external_plugins", str(trl_head))

    def logged(name):
        rows = [json.loads(line) for line in next((tmp_path / name).rglob("logging.jsonl")).read_text().splitlines()]
        return [r for r in rows if "loss" in r and "train_runtime" not in r]

    plain, trl = logged("plain"), logged("trl")
    assert set(calls.read_text().split()) == {"trl"}  # policy and reference passes of the second run: trl's head
    assert len(plain) == len(trl) == 4
    for ours, theirs in zip(plain, trl):
        for key in ("loss", "grad_norm", "rewards/margins", "logps/chosen", "entropy", "logits/chosen"):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-4, abs=1e-5), (key, ours, theirs)
