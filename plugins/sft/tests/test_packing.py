"""Padding-free packing: a packed batch gives exactly the per-sample losses of the samples alone."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from swiftk_sft.packing import PackedCollator, concat_bin, pack_rows


def tiny_qwen2(vocab: int = 64):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        attn_implementation="sdpa",
        use_cache=False,
    )
    return Qwen2ForCausalLM(config).eval()


def sample(rng: torch.Generator, n: int, prompt: int) -> dict:
    ids = torch.randint(1, 64, (n,), generator=rng).tolist()
    return {"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]}


def per_token_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[:-1].float(), labels[1:].clamp(min=0), reduction="none") * (labels[1:] != -100)


def test_bins_respect_max_length_and_keep_every_sample():
    rows = [{"input_ids": [0] * n, "labels": [0] * n} for n in (9, 3, 5, 7, 2, 4)]
    bins = pack_rows(rows, 10)
    assert sorted(len(r["input_ids"]) for b in bins for r in b) == [2, 3, 4, 5, 7, 9]
    assert all(sum(len(r["input_ids"]) for r in b) <= 10 for b in bins)
    assert len(bins) == 4  # 30 tokens; the 9 leaves no room for another, so 4 rows is optimal
    packed = concat_bin([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}, {"input_ids": [4, 5], "labels": [4, 5]}])
    assert packed["position_ids"] == [0, 1, 2, 0, 1]
    assert packed["labels"] == [-100, 2, 3, -100, 5]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_losses_equal_one_by_one(attn):
    model = tiny_qwen2()
    model.config._attn_implementation = attn
    rng = torch.Generator().manual_seed(1)
    samples = [sample(rng, n, p) for n, p in ((12, 4), (7, 2), (15, 5), (5, 1), (9, 3))]
    alone = []
    with torch.no_grad():
        for s in samples:
            ids, labels = torch.tensor([s["input_ids"]]), torch.tensor(s["labels"])
            alone.append(per_token_loss(model(input_ids=ids).logits[0], labels).sum() / (labels[1:] != -100).sum())
        bins = pack_rows(samples, 24)
        batch = PackedCollator(pad_token_id=0)([concat_bin(b) for b in bins])
        assert "attention_mask" not in batch
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"]).logits
    packed_losses = {}
    for row, members in enumerate(bins):
        start = 0
        for s in members:
            n = len(s["input_ids"])
            labels = torch.tensor(s["labels"])
            token = per_token_loss(logits[row, start : start + n], labels)
            packed_losses[id(s)] = token.sum() / (labels[1:] != -100).sum()
            start += n
    for s, loss in zip(samples, alone):
        assert abs(packed_losses[id(s)].item() - loss.item()) < 1e-5
