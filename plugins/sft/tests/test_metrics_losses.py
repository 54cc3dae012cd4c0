"""The acc and nlg metrics and the registered losses, on hand-checked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from swiftk_sft.losses import cross_entropy, loss_scale_cross_entropy
from swiftk_sft.scoring import bleu4, exact_match, exact_match_scores, nlg_scores, rouge_l, words
from swiftk_sft.metrics import token_accuracy


def test_token_and_sequence_accuracy():
    # position i predicts label i+1
    labels = np.array([[-100, 5, 6, 7], [-100, -100, 8, 9]])
    preds = np.array([[5, 6, 0, 0], [0, 8, 9, 0]])
    assert token_accuracy(preds, labels, "token") == pytest.approx(4 / 5)
    assert token_accuracy(preds, labels, "seq") == pytest.approx(1 / 2)


def test_rouge_l_and_bleu():
    assert rouge_l(["a", "b", "c"], ["a", "b", "c"]) == 1.0
    assert rouge_l(["a", "x", "c"], ["a", "b", "c"]) == pytest.approx(2 / 3)
    assert rouge_l([], ["a"]) == 0.0
    same = "the cat sat on the mat".split()
    assert bleu4(same, same) == pytest.approx(1.0)
    assert bleu4(["dog"], same) == 0.0
    assert 0 < bleu4("the cat sat on a mat".split(), same) < 1


def test_words_split_cjk_by_character():
    assert words("我是小A, hello") == ["我", "是", "小", "a", ",", "hello"]
    scores = nlg_scores(["我是小A"], ["我是小A"])
    assert scores["rouge-l"] == 1.0


def test_exact_match_strips_whitespace():
    assert exact_match([" 42\n", "7"], ["42", "8"]) == pytest.approx(1 / 2)
    assert exact_match([], []) == 0.0
    assert exact_match_scores(["a", "b"], ["a", "b"]) == {"acc": 1.0}


def test_acc_and_nlg_score_texts_as_swiftk_infer_finds_them(swiftk_host):
    """The registered metrics' score_texts option: what `swiftk infer --metric acc|rouge` scores answers with."""
    from swiftk.api import load_reference

    metrics = swiftk_host.registry("metrics")
    acc = load_reference(metrics.entry("acc").meta["score_texts"])
    nlg = load_reference(metrics.entry("nlg").meta["score_texts"])
    assert acc(["42", "x"], ["42", "y"]) == {"acc": 0.5}
    assert set(nlg(["the cat"], ["the cat"])) == {"rouge-l", "bleu-4"}


def test_losses_match_torch_and_weight_tokens():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    labels = torch.tensor([[-100, 1, 2, 3, -100], [-100, -100, 4, 5, 6]])
    outputs = {"logits": logits}
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, 11), labels[:, 1:].reshape(-1), ignore_index=-100
    )
    assert cross_entropy(outputs, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    ones = torch.ones(2, 5)
    assert loss_scale_cross_entropy(outputs, labels, ones).item() == pytest.approx(expected.item(), rel=1e-6)
    zero_second = torch.ones(2, 5)
    zero_second[1] = 0
    weighted = loss_scale_cross_entropy(outputs, labels, zero_second).item()
    first_only = torch.nn.functional.cross_entropy(
        logits[0, :-1], labels[0, 1:], ignore_index=-100, reduction="sum"
    ).item()
    assert weighted == pytest.approx(first_only / 6, rel=1e-6)  # mean over all 6 labelled tokens
    assert not math.isnan(cross_entropy(outputs, torch.full((2, 5), -100)).item())


def test_dft_weights_each_tokens_cross_entropy_by_its_detached_probability():
    """--enable_dft_loss: loss = mean(p_label.detach() * CE); its gradient is p_label times the CE's gradient."""
    from swiftk_sft.losses import dft

    torch.manual_seed(0)
    logits = torch.randn(2, 5, 7, requires_grad=True)
    labels = torch.tensor([[-100, 1, 2, 3, -100], [-100, 4, 5, -100, -100]])
    loss = dft(cross_entropy)({"logits": logits}, labels)
    target = labels[:, 1:]
    logp = torch.log_softmax(logits[:, :-1], -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    mask = target != -100
    expected = -(logp.exp().detach() * logp)[mask].mean()
    assert torch.allclose(loss, expected, atol=1e-6) and loss < cross_entropy({"logits": logits}, labels)
    (grad,) = torch.autograd.grad(loss, logits)
    (plain,) = torch.autograd.grad(cross_entropy({"logits": logits}, labels), logits)
    weights = torch.zeros(2, 5)
    weights[:, :-1][mask] = logp.exp().detach()[mask]
    assert torch.allclose(grad, plain * weights.unsqueeze(-1), atol=1e-6)
    scale = torch.tensor([[1.0, 2.0, 2.0, 0.5, 1.0], [1.0, 1.0, 3.0, 1.0, 1.0]])
    scaled = dft(loss_scale_cross_entropy)({"logits": logits}, labels, loss_scale=scale)
    assert torch.allclose(scaled, -(logp.exp().detach() * logp * scale[:, 1:])[mask].mean(), atol=1e-6)
