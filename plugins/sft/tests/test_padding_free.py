"""Padding-free training batches: the same losses and gradients as padded batches, sdpa everywhere else."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import Seq2SeqTrainingArguments

from swiftk.api import UsageError
from swiftk_sft import padding_free
from swiftk_sft.packing import PackedCollator, concat_bin, pack_rows
from swiftk_sft.trainer import Seq2SeqTrainer, _labelled_positions_loss

from test_packing import sample, tiny_qwen2

SHAPES = ((12, 4), (7, 2), (15, 5), (5, 1), (9, 3), (3, 1))


def samples(seed: int = 1) -> list[dict]:
    rng = torch.Generator().manual_seed(seed)
    return [sample(rng, n, p) for n, p in SHAPES]


def padded(rows: list[dict]) -> dict:
    width = max(len(r["input_ids"]) for r in rows)
    fill = lambda seq, value: list(seq) + [value] * (width - len(seq))  # noqa: E731
    return {
        "input_ids": torch.tensor([fill(r["input_ids"], 0) for r in rows]),
        "attention_mask": torch.tensor([fill([1] * len(r["input_ids"]), 0) for r in rows]),
        "labels": torch.tensor([fill(r["labels"], -100) for r in rows]),
    }


def loss_and_grads(model, fn) -> tuple[float, dict]:
    model.zero_grad()
    loss = fn()
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("counted", [False, True])
def test_padding_free_batch_has_the_padded_batch_loss_and_gradients(counted):
    model = tiny_qwen2().train()
    rows = samples()
    batch = padded(rows)
    items = (batch["labels"][:, 1:] != -100).sum() if counted else None
    if counted:
        ref = loss_and_grads(model, lambda: model(**batch, num_items_in_batch=items).loss)
    else:
        ref = loss_and_grads(model, lambda: model(**batch).loss)
    padding_free.enable(model)
    flat = padding_free.FlatCollator()(rows)
    assert flat["input_ids"].shape == (1, sum(n for n, _ in SHAPES))  # no padding at all
    assert flat["cu_seq_lens_q"].tolist() == [0, 12, 19, 34, 39, 48, 51]
    labels = flat.pop("labels")
    got = loss_and_grads(model, lambda: _labelled_positions_loss(model, flat, labels, items)[0])
    assert abs(got[0] - ref[0]) < 1e-5
    assert ref[1].keys() == got[1].keys()
    for name, grad in ref[1].items():
        assert torch.allclose(got[1][name], grad, atol=1e-6, rtol=1e-4), name


def test_the_labelled_positions_give_the_token_accuracy_of_the_full_logits():
    model = tiny_qwen2()
    rows = samples(2)
    batch = padded(rows)
    with torch.no_grad():
        preds = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1].argmax(-1)
    target = batch["labels"][:, 1:]
    mask = target != -100
    padding_free.enable(model)
    flat = padding_free.FlatCollator()(rows)
    with torch.no_grad():
        _, correct, counted = _labelled_positions_loss(model, flat, flat.pop("labels"), None)
    assert counted == int(mask.sum())
    assert correct == int(((preds == target) & mask).sum())


def test_packed_rows_flatten_to_the_same_losses_as_padded_packed_rows():
    model = tiny_qwen2()
    bins = pack_rows(samples(3), 24)
    rows = [concat_bin(b) for b in bins]
    with torch.no_grad():
        legacy = PackedCollator(pad_token_id=0)(rows)  # rows padded, transformers' block-diagonal mask
        logits = model(input_ids=legacy["input_ids"], position_ids=legacy["position_ids"]).logits
        reference = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1), legacy["labels"][:, 1:].flatten(), ignore_index=-100
        )
        padding_free.enable(model)
        flat = padding_free.FlatCollator()(rows)
        loss = _labelled_positions_loss(model, flat, flat.pop("labels"), None)[0]
        # padded packed rows without cu_seq_lens: the segments come from the position_ids of each row
        again = model(input_ids=legacy["input_ids"], position_ids=legacy["position_ids"]).logits
    assert abs(loss.item() - reference.item()) < 1e-5
    assert torch.allclose(again, logits, atol=1e-5)


def test_elsewhere_the_segments_attention_is_sdpa(tmp_path):
    model = tiny_qwen2()
    prompts = {
        "input_ids": torch.tensor([[0, 0, 5, 6, 7], [8, 9, 10, 11, 12]]),
        "attention_mask": torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]),
    }
    with torch.no_grad():
        logits = model(**prompts).logits
        unpadded = model(input_ids=prompts["input_ids"][1:]).logits
        generated = model.generate(**prompts, max_new_tokens=6, do_sample=False, pad_token_id=0, use_cache=True)
    padding_free.enable(model)
    assert model.config._attn_implementation == padding_free.ATTENTION
    with torch.no_grad():
        assert torch.allclose(model(**prompts).logits, logits, atol=1e-6)
        assert torch.allclose(model(input_ids=prompts["input_ids"][1:]).logits, unpadded, atol=1e-6)
        assert torch.equal(
            model.generate(**prompts, max_new_tokens=6, do_sample=False, pad_token_id=0, use_cache=True), generated
        )
    model.save_pretrained(tmp_path)
    assert padding_free.ATTENTION not in (tmp_path / "config.json").read_text()


class Args(dict):
    def get(self, key, default=None):
        return super().get(key, default)


def test_why_batches_stay_padded(monkeypatch):
    rows = Dataset.from_list([{"input_ids": [1, 2], "labels": [1, 2]}])
    args = Args(max_length=64)
    model = tiny_qwen2()
    assert padding_free.why_not(model, args, rows) is None
    assert "task_type" in padding_free.why_not(model, Args(task_type="seq_cls"), rows)
    images = Dataset.from_list([{"input_ids": [1, 2], "labels": [1, 2], "pixel_values": [0.5]}])
    assert "more than tokens" in padding_free.why_not(model, args, images)
    model.config._attn_implementation = "eager"
    assert "eager" in padding_free.why_not(model, args, rows)
    model.config._attn_implementation = "sdpa"
    model.config.layer_types = ["sliding_attention", "full_attention"]
    model.config.sliding_window = 32
    assert "sliding-window" in padding_free.why_not(model, args, rows)
    assert padding_free.why_not(model, Args(max_length=32), rows) is None  # no sample is longer than the window
    model.config.layer_types = ["conv", "full_attention"]  # LFM2-style: a convolution would run across samples
    assert "conv" in padding_free.why_not(model, args, rows)
    model.config.layer_types = None  # Mistral-style: a window and no layer types
    model.config.use_sliding_window = True
    assert "sliding-window" in padding_free.why_not(model, args, rows)
    model.config.sliding_window = None
    assert padding_free.why_not(model, args, rows) is None
    monkeypatch.setenv("SWIFTK_PADDING_FREE", "0")
    assert padding_free.why_not(model, args, rows) == "SWIFTK_PADDING_FREE=0"


def train_losses(tmp_path, monkeypatch, flat: bool) -> tuple[list[dict], dict]:
    monkeypatch.setenv("SWIFTK_PADDING_FREE", "1" if flat else "0")
    rng = torch.Generator().manual_seed(4)
    rows = [sample(rng, int(torch.randint(4, 20, (1,), generator=rng)), 2) for _ in range(48)]
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path / ("flat" if flat else "padded")),
        report_to="none",
        use_cpu=True,
        per_device_train_batch_size=8,
        max_steps=6,
        logging_steps=1,
        learning_rate=1e-3,
        save_strategy="no",
        seed=0,
        remove_unused_columns=False,
    )
    model = tiny_qwen2().train()
    collate = lambda batch: padded(batch)  # noqa: E731
    trainer = Seq2SeqTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        data_collator=collate,
        swift_args=Args(max_length=64),
    )
    assert (trainer._flat_collator is not None) == flat
    trainer.train()
    logs = [
        {k: round(v, 5) for k, v in row.items() if k in ("loss", "token_acc")}
        for row in trainer.state.log_history
        if "loss" in row
    ]
    return logs, {n: p.detach().clone() for n, p in model.named_parameters()}


def test_training_padding_free_follows_the_padded_run_step_by_step(tmp_path, monkeypatch):
    padded_logs, padded_weights = train_losses(tmp_path, monkeypatch, flat=False)
    flat_logs, flat_weights = train_losses(tmp_path, monkeypatch, flat=True)
    assert len(flat_logs) == 6 and all("token_acc" in row for row in flat_logs)
    for a, b in zip(padded_logs, flat_logs):
        assert abs(a["loss"] - b["loss"]) < 1e-4 and a["token_acc"] == b["token_acc"], (padded_logs, flat_logs)
    initial = dict(tiny_qwen2().named_parameters())
    assert any(not torch.allclose(initial[n], w, atol=1e-4) for n, w in padded_weights.items())  # it trained
    for name, weight in padded_weights.items():
        assert torch.allclose(flat_weights[name], weight, atol=1e-5), name


def _trainer(tmp_path, **swift_args):
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), report_to="none", use_cpu=True, max_steps=1, save_strategy="no",
        remove_unused_columns=False,
    )  # fmt: skip
    rows = Dataset.from_list([{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}] * 4)
    return Seq2SeqTrainer(
        model=tiny_qwen2(),
        args=args,
        train_dataset=rows,
        data_collator=padded,
        swift_args=Args(max_length=64, **swift_args),
    )


def test_padding_free_false_keeps_batches_padded_and_true_requires_them(tmp_path, monkeypatch):
    """later ms-swift's --padding_free: unset, padding-free where the model allows; false, padded; true, an error
    naming why not where it cannot be."""
    assert _trainer(tmp_path)._flat_collator is not None
    assert _trainer(tmp_path, padding_free=False)._flat_collator is None
    assert _trainer(tmp_path, padding_free=True)._flat_collator is not None
    monkeypatch.setenv("SWIFTK_PADDING_FREE", "0")
    with pytest.raises(UsageError, match="--padding_free true: .* SWIFTK_PADDING_FREE=0"):
        _trainer(tmp_path, padding_free=True)


def test_use_logits_to_keep_unset_automatic_false_off_true_required(tmp_path):
    """later ms-swift's --use_logits_to_keep: unset, the head runs on the labelled positions where the run allows;
    false, on every position; true, an error naming why not where it cannot (padded batches, a custom loss)."""
    assert _trainer(tmp_path)._labelled_logits
    assert not _trainer(tmp_path, use_logits_to_keep=False)._labelled_logits
    assert _trainer(tmp_path, use_logits_to_keep=True)._labelled_logits
    with pytest.raises(UsageError, match="--use_logits_to_keep true: it runs on padding-free batches, and these are"):
        _trainer(tmp_path, use_logits_to_keep=True, padding_free=False)
    with pytest.raises(UsageError, match="--use_logits_to_keep true: this run computes its loss from every position"):
        _trainer(tmp_path, use_logits_to_keep=True, loss_type="cross_entropy")


def test_enable_dft_loss_keeps_padding_free_batches_and_refuses_another_loss(tmp_path):
    trainer = _trainer(tmp_path, enable_dft_loss=True)
    assert trainer._loss_fn.__name__ == "dft_loss" and trainer._flat_collator is not None
    with pytest.raises(UsageError, match="--enable_dft_loss weights the token cross entropy; --loss_type infonce"):
        _trainer(tmp_path, enable_dft_loss=True, loss_type="infonce")
