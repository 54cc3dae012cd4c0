"""``#N`` sampling, the validation split and the spec syntax, as the seed page states them."""

from __future__ import annotations

from collections import Counter

import numpy as np

from swiftk_datasets.sampling import sample_indices
from swiftk_datasets.spec import parse_spec

from ds_helpers import load
from ds_helpers import data_dir, offline_fresh_host, tiny_tokenizer  # noqa: F401 (fixtures)


def _numbered(tmp_path, n):
    path = tmp_path / f"n{n}.jsonl"
    path.write_text("".join(f'{{"query": "q{i}", "response": "r{i}"}}\n' for i in range(n)))
    return path


def _ids(dataset):
    return [int(row["messages"][0]["content"][1:]) for row in dataset]


def test_below_size_is_random_without_repetition():
    idx = sample_indices(100, 30, np.random.RandomState(42))
    assert len(idx) == 30 and len(set(idx.tolist())) == 30
    assert idx.tolist() != list(range(30))  # random, not the first rows


def test_above_size_repeats_whole_set_then_random_remainder():
    idx = sample_indices(10, 25, np.random.RandomState(0)).tolist()
    assert idx[:20] == list(range(10)) * 2
    assert len(idx[20:]) == 5 and len(set(idx[20:])) == 5
    counts = Counter(idx)
    assert sorted(set(counts.values())) == [2, 3] and sum(c == 3 for c in counts.values()) == 5


def test_exact_multiple_has_no_random_part():
    assert sample_indices(4, 8, np.random.RandomState(0)).tolist() == [0, 1, 2, 3, 0, 1, 2, 3]


def test_sampling_is_seeded_by_data_seed(tmp_path):
    path = _numbered(tmp_path, 50)
    a, _ = load("--dataset", f"{path}#10", "--data_seed", "1")
    b, _ = load("--dataset", f"{path}#10", "--data_seed", "1")
    c, _ = load("--dataset", f"{path}#10", "--data_seed", "2")
    assert _ids(a) == _ids(b) != _ids(c)
    assert len(set(_ids(a))) == 10


def test_sampling_above_size_through_load(tmp_path):
    path = _numbered(tmp_path, 4)
    train, _ = load("--dataset", f"{path}#10")
    ids = _ids(train)
    assert ids[:8] == [0, 1, 2, 3] * 2 and len(set(ids[8:])) == 2


def test_split_dataset_ratio_and_zero_means_no_split(tmp_path):
    path = _numbered(tmp_path, 100)
    train, val = load("--dataset", str(path), "--split_dataset_ratio", "0.1")
    assert len(train) == 90 and len(val) == 10 and not set(_ids(train)) & set(_ids(val))
    train, val = load("--dataset", str(path), "--split_dataset_ratio", "0")
    assert len(train) == 100 and val is None
    # with #N above the size the validation part stays at ratio * size
    train, val = load("--dataset", f"{path}#300", "--split_dataset_ratio", "0.1")
    assert len(val) == 10 and len(train) == 290


def test_val_dataset_disables_the_split(tmp_path):
    path = _numbered(tmp_path, 20)
    other = _numbered(tmp_path, 6)
    train, val = load("--dataset", str(path), "--val_dataset", f"{other}#3", "--split_dataset_ratio", "0.5")
    assert len(train) == 20 and len(val) == 3


def test_several_datasets_per_flag_mixed_kinds(tmp_path, data_dir):
    path = _numbered(tmp_path, 5)
    train, _ = load("--dataset", f"{path}#2", "swiftk/demo-sft#3", str(data_dir / "alpaca.json"))
    assert len(train) == 2 + 3 + 3


def test_spec_syntax():
    spec = parse_spec("swift/self-cognition:qwen3/empty_think#500")
    assert (spec.dataset, spec.subsets, spec.sample) == ("swift/self-cognition", ("qwen3", "empty_think"), 500)
    assert parse_spec("owner/name:all").all_subsets
    assert parse_spec("HF::owner/name#3").hub == "hf"
    assert parse_spec("data.jsonl").sample is None


def test_existing_paths_with_colon_and_hash_win(tmp_path):
    odd = tmp_path / "v1:train#2.jsonl"
    odd.write_text('{"query": "q", "response": "r"}\n')
    assert parse_spec(str(odd)).dataset == str(odd)
    train, _ = load("--dataset", f"{odd}#3")
    assert len(train) == 3
