"""What the trainer counts for its summary and logs: non-padding tokens, floating-point operations."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from transformers import Seq2SeqTrainingArguments

from swiftk_sft.packing import PackedCollator, concat_bin
from swiftk_sft.trainer import Seq2SeqTrainer

from test_packing import tiny_qwen2

PAD = 0


def make_trainer(tmp_path) -> Seq2SeqTrainer:
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    return Seq2SeqTrainer(
        model=tiny_qwen2(),
        args=args,
        processing_class=SimpleNamespace(pad_token_id=PAD),
        data_collator=PackedCollator(PAD),
    )


def test_tokens_counted_without_padding(tmp_path):
    trainer = make_trainer(tmp_path)
    rows = [
        concat_bin([{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]),
        concat_bin([{"input_ids": [3, 4], "labels": [3, 4]}]),
    ]
    packed = PackedCollator(PAD)(rows)  # no attention mask; the second row padded by 3
    assert packed["input_ids"].numel() == 10 and "attention_mask" not in packed
    assert trainer._count_tokens(packed) == 7
    padded = {
        "input_ids": torch.tensor([[5, 6, 7], [8, PAD, PAD]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 0, 0]]),
    }
    assert trainer._count_tokens(padded) == 4


def test_floating_point_ops_as_transformers_counts_them(tmp_path):
    trainer = make_trainer(tmp_path)
    inputs = {"input_ids": torch.ones(4, 9, dtype=torch.long)}
    expected = 6 * 36 * trainer.model.num_parameters(exclude_embeddings=True)
    assert trainer.floating_point_ops(inputs) == expected
    assert trainer.floating_point_ops(inputs) == expected  # the cached parameter count
    assert trainer.floating_point_ops({"other": torch.ones(2)}) == 0
