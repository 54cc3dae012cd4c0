"""The running batch's KV slab: every change gives the keys and values that plain tensors would hold."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from swiftk.infer import InferRequest, RequestConfig
from swiftk_infer.kv_slab import SPARE_COLUMNS, SPARE_ROWS, SlabLayer, compaction


class Plain:
    """What the engine kept before the slab: whole tensors, concatenated and index-selected, plus a mask of
    the columns that hold real tokens (the others are masked out of attention and may hold anything)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor):
        self.keys, self.values = keys.clone(), values.clone()
        self.mask = torch.ones(keys.shape[0], keys.shape[2], dtype=torch.bool)

    def update(self, k: torch.Tensor, v: torch.Tensor) -> None:
        self.keys, self.values = torch.cat([self.keys, k], 2), torch.cat([self.values, v], 2)
        self.mask = torch.cat([self.mask, torch.ones(k.shape[0], k.shape[2], dtype=torch.bool)], 1)

    def keep(self, order: list[int], trim: int) -> None:
        index = torch.tensor(order)
        self.keys = self.keys.index_select(0, index)[:, :, trim:]
        self.values = self.values.index_select(0, index)[:, :, trim:]
        self.mask = self.mask.index_select(0, index)[:, trim:]

    def add(self, k: torch.Tensor, v: torch.Tensor, width: int) -> None:
        def pad(t: torch.Tensor, n: int, dim: int) -> torch.Tensor:
            shape = list(t.shape)
            shape[dim] = n
            return torch.cat([t.new_zeros(shape), t], dim)

        old, new = self.keys.shape[2], k.shape[2]
        self.keys = torch.cat([pad(self.keys, width - old, 2), pad(k, width - new, 2)], 0)
        self.values = torch.cat([pad(self.values, width - old, 2), pad(v, width - new, 2)], 0)
        self.mask = torch.cat(
            [pad(self.mask, width - old, 1), pad(torch.ones(k.shape[0], new, dtype=torch.bool), width - new, 1)], 0
        )


def same(slab: SlabLayer, plain: Plain) -> bool:
    """Equal shapes, and equal keys and values wherever a real token is."""
    if slab.keys.shape != plain.keys.shape or slab.values.shape != plain.values.shape:
        return False
    live = plain.mask[:, None, :, None]
    return bool(
        torch.equal(slab.keys * live, plain.keys * live)
        and torch.equal(slab.values * live, plain.values * live)
        and torch.isfinite(slab.keys).all()
        and torch.isfinite(slab.values).all()
    )


def kv(rows: int, width: int, heads: int = 2, dim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(rows, heads, width, dim), torch.randn(rows, heads, width, dim)


def compact(slab: SlabLayer, plain: Plain, done: set[int]) -> None:
    """The engine's compaction: the last kept rows fill the finished rows' places; unused leading columns go."""
    order, moves = compaction([i in done for i in range(plain.keys.shape[0])])
    n = len(order)
    assert sorted(order) == [i for i in range(plain.keys.shape[0]) if i not in done]  # every kept row, once
    used = plain.mask.index_select(0, torch.tensor(order)).any(0)
    trim = int(used.int().argmax())
    dst, src = (torch.tensor(list(side)) for side in zip(*moves)) if moves else (None, None)
    slab.keep_rows(dst, src, n, trim)
    plain.keep(order, trim)


def test_a_compaction_moves_only_the_last_kept_rows_into_the_holes():
    assert compaction([True, False, False, True, False]) == ([4, 1, 2], [(0, 4)])
    assert compaction([False, False, True]) == ([0, 1], [])  # the last row leaves: nothing moves
    assert compaction([True, True]) == ([], [])


def test_steps_rows_leaving_and_joining_match_plain_tensors():
    torch.manual_seed(0)
    keys, values = kv(3, 5)
    slab, plain = SlabLayer(keys, values), Plain(keys, values)
    assert same(slab, plain)
    for step in range(SPARE_COLUMNS + 20):  # past the spare columns: the buffers grow
        k, v = kv(plain.keys.shape[0], 1)
        returned = slab.update(k, v)
        plain.update(k, v)
        assert returned[0] is slab.keys and same(slab, plain), step
        if step == 10:
            compact(slab, plain, {0})  # the first row leaves: the last takes its place
        if step == 20:
            k2, v2 = kv(2, plain.keys.shape[2] + 7)  # wider than the batch: the running rows gain columns
            slab.add_rows(k2, v2, plain.keys.shape[2] + 7)
            plain.add(k2, v2, plain.keys.shape[2] + 7)
        if step == 30:
            k3, v3 = kv(SPARE_ROWS + 3, 4)  # more rows than the spare ones: the buffers grow
            slab.add_rows(k3, v3, plain.keys.shape[2])
            plain.add(k3, v3, plain.keys.shape[2])
        if step == 40:
            compact(slab, plain, {1, 2, plain.keys.shape[0] - 1})  # a hole filled, the last row simply dropped
        assert same(slab, plain), step


def test_a_trim_drops_the_columns_no_row_uses():
    torch.manual_seed(1)
    keys, values = kv(2, 3)
    slab, plain = SlabLayer(keys, values), Plain(keys, values)
    k, v = kv(1, 9)
    slab.add_rows(k, v, 9)  # row 2 is 9 wide: rows 0 and 1 are left-padded by 6
    plain.add(k, v, 9)
    compact(slab, plain, {2})  # only rows 0 and 1 stay: their 6 padding columns go
    assert slab.keys.shape[2] == 3 and same(slab, plain)


def test_keys_assigned_from_outside_are_adopted():
    torch.manual_seed(2)
    keys, values = kv(2, 6)
    slab, plain = SlabLayer(keys, values), Plain(keys, values)
    slab.crop(-2)  # transformers' own cache method assigns slices
    plain.keys, plain.values, plain.mask = plain.keys[:, :, :-2], plain.values[:, :, :-2], plain.mask[:, :-2]
    k, v = kv(2, 1)
    slab.update(k, v)
    plain.update(k, v)
    assert same(slab, plain)


def test_after_a_reset_the_next_rows_start_again():
    slab = SlabLayer(*kv(3, 2))
    slab.reset()  # what Cache.reset() calls
    assert slab.get_seq_length() == 0
    k, v = kv(2, 5)
    keys, values = slab.update(k, v)
    assert torch.equal(keys, k) and torch.equal(values, v)


def test_a_step_with_the_wrong_number_of_rows_is_refused():
    slab = SlabLayer(*kv(3, 2))
    with pytest.raises(ValueError, match="2 rows of new keys for a cache of 3 rows"):
        slab.update(*kv(2, 1))


def test_long_answers_of_many_concurrent_requests_are_those_of_requests_alone(monkeypatch):
    """More rows than the slab's spare rows and more steps than its spare columns, on a random Llama."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.model import get_template
    from swiftk_demo import MODEL_DIR
    from swiftk_infer.pt_engine import PtEngine

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        attn_implementation="sdpa",
    )
    args = resolve_arguments("infer", ["--model", MODEL_DIR])
    from swiftk.pipelines.model import load_model_and_processor

    _, processor, info = load_model_and_processor(args)
    engine = PtEngine(LlamaForCausalLM(config), processor, get_template(args, processor, info, mode="infer"))
    try:
        seen = {"moved": 0, "joined": 0, "most_rows": 0, "grown": 0}
        keep_rows, add_rows, adopt = SlabLayer.keep_rows, SlabLayer.add_rows, SlabLayer._adopt

        def counted_keep(self, dst, src, rows, trim):
            seen["moved"] += dst is not None
            return keep_rows(self, dst, src, rows, trim)

        def counted_add(self, keys, values, width):
            seen["joined"] += 1
            add_rows(self, keys, values, width)
            seen["most_rows"] = max(seen["most_rows"], self.keys.shape[0])

        def counted_adopt(self, *args, **kwargs):
            seen["grown"] += hasattr(self, "_k")  # a copy into new buffers, not the first ones
            return adopt(self, *args, **kwargs)

        monkeypatch.setattr(SlabLayer, "keep_rows", counted_keep)
        monkeypatch.setattr(SlabLayer, "add_rows", counted_add)
        monkeypatch.setattr(SlabLayer, "_adopt", counted_adopt)
        questions = [f"Question {i}: what is {i} + {i}?" for i in range(6)]
        config = RequestConfig(max_tokens=SPARE_COLUMNS + 16, temperature=0, ignore_eos=True)
        alone = {
            q: engine.infer([InferRequest([{"role": "user", "content": q}])], config)[0].choices[0].token_ids
            for q in questions
        }
        answers: dict[int, list] = {}

        def client(i: int) -> None:
            time.sleep(0.002 * i)
            request = InferRequest([{"role": "user", "content": questions[i % len(questions)]}])
            answers[i] = engine.infer([request], config)[0].choices[0].token_ids

        threads = [threading.Thread(target=client, args=(i,)) for i in range(SPARE_ROWS + 12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == SPARE_ROWS + 12
        assert all(answers[i] == alone[questions[i % len(questions)]] for i in answers)
        # the batch did change shape under the slab: newcomers joined running rows, finished rows' places
        # were taken by others, and the buffers grew (past the spare rows or the spare columns)
        assert seen["joined"] and seen["moved"] and seen["grown"], seen
        assert seen["most_rows"] > SPARE_ROWS, seen
    finally:
        engine.close()
