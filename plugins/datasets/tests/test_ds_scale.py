"""Scale options: num_proc, streaming, cache, lazy tokenization, and tokenization's bad rows."""

from __future__ import annotations

import logging

import pytest

from swiftk.errors import UsageError
from swiftk.pipelines.data import encode_dataset

from ds_helpers import ChatEncoder, load, rows
from ds_helpers import data_dir, offline_fresh_host, tiny_tokenizer  # noqa: F401 (fixtures)


def _write(tmp_path, n, name="rows.jsonl", bad_every=0):
    path = tmp_path / name
    with open(path, "w") as f:
        for i in range(n):
            if bad_every and i % bad_every == bad_every - 1:
                f.write(f'{{"messages": [{{"role": "user", "content": "q{i}"}}]}}\n')
            else:
                f.write(f'{{"query": "q{i}", "response": "r{i}", "solution": "{i}"}}\n')
    return path


def test_num_proc_2_gives_the_same_rows_and_report(tmp_path, caplog):
    path = _write(tmp_path, 3000, bad_every=7)
    with caplog.at_level(logging.WARNING, logger="swiftk.datasets"):
        one, _ = load("--dataset", str(path), "--dataset_num_proc", "1")
        two, _ = load("--dataset", str(path), "--dataset_num_proc", "2")
    assert rows(one) == rows(two) and len(one) == 3000 - 3000 // 7
    summaries = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(summaries) == 2 and summaries[0] == summaries[1]
    assert f"first: {path}:7: column 'messages': the conversation ends with a 'user' message" in summaries[0]


def test_streaming_needs_max_steps(tmp_path):
    path = _write(tmp_path, 10)
    with pytest.raises(UsageError, match=r"--streaming true needs --max_steps"):
        load("--dataset", str(path), "--streaming", "true")


def test_streaming_is_iterable_end_to_end(tmp_path, tiny_tokenizer):
    from datasets import IterableDataset

    path = _write(tmp_path, 50, bad_every=10)
    train, val = load(
        "--dataset", f"{path}#20", str(path), "--streaming", "true", "--max_steps", "5", "--split_dataset_ratio", "0.5"
    )
    assert isinstance(train, IterableDataset) and val is None
    got = list(train)
    assert len(got) == 20 + 45 and got[0]["messages"][1] == {"role": "assistant", "content": "r0"}
    encoded = encode_dataset(train, ChatEncoder(tiny_tokenizer, max_length=40))
    assert isinstance(encoded, IterableDataset)
    first = next(iter(encoded))
    assert set(first) == {"input_ids", "labels"} and len(first["input_ids"]) <= 40
    with pytest.raises(UsageError, match=r"tokenization \(streamed\): no rows left: all 65 rows were dropped"):
        list(encode_dataset(train, ChatEncoder(tiny_tokenizer, max_length=2)))


def test_shuffle_buffer_size_shuffles_the_stream(tmp_path):
    """Later ms-swift's --shuffle_buffer_size: the same rows in another order, the same order for a seed."""
    path = _write(tmp_path, 60)
    common = ("--dataset", str(path), "--streaming", "true", "--max_steps", "5")

    def answers(*extra):
        train, _ = load(*common, *extra)
        return [row["messages"][1]["content"] for row in train]

    plain = answers()
    assert plain == [f"r{i}" for i in range(60)]
    shuffled = answers("--shuffle_buffer_size", "16")
    assert sorted(shuffled) == sorted(plain) and shuffled != plain
    assert answers("--shuffle_buffer_size", "16") == shuffled
    assert answers("--shuffle_buffer_size", "16", "--data_seed", "7") != shuffled
    with pytest.raises(UsageError, match=r"--shuffle_buffer_size 16: only a streamed dataset .* --streaming true"):
        load("--dataset", str(path), "--shuffle_buffer_size", "16")


def test_streaming_strict_stops_at_the_bad_row(tmp_path):
    path = _write(tmp_path, 30, bad_every=10)
    train, _ = load("--dataset", str(path), "--streaming", "true", "--max_steps", "5", "--strict", "true")
    with pytest.raises(UsageError, match=rf"{path}:10: column 'messages': the conversation ends with a 'user'"):
        list(train)


def test_streaming_empty_dataset_fails_at_load(data_dir):
    with pytest.raises(UsageError, match=r"all_bad.jsonl: no rows left: all 2 rows were dropped \(2 no conversation\)"):
        load("--dataset", str(data_dir / "all_bad.jsonl"), "--streaming", "true", "--max_steps", "5")


def test_enable_cache_reuses_files_and_sees_edits(tmp_path):
    path = _write(tmp_path, 20)
    cache = tmp_path / "hf-cache" / "swiftk"
    load("--dataset", str(path), "--enable_cache", "true")
    files = sorted(p.name for p in (cache / "standard").iterdir())
    load("--dataset", str(path), "--enable_cache", "true")
    assert sorted(p.name for p in (cache / "standard").iterdir()) == files  # reused, nothing new
    with open(path, "a") as f:
        f.write('{"query": "new", "response": "row"}\n')
    train, _ = load("--dataset", str(path), "--enable_cache", "true")
    assert len(train) == 21
    train, _ = load("--dataset", str(path), "--enable_cache", "true", "--download_mode", "force_redownload")
    assert len(train) == 21


def test_without_cache_nothing_lands_in_the_datasets_cache(tmp_path):
    path = _write(tmp_path, 5)
    load("--dataset", str(path))
    assert not (tmp_path / "hf-cache" / "swiftk").exists()


def test_encode_drops_rejected_rows_with_summary_and_strict(tmp_path, tiny_tokenizer, caplog):
    path = tmp_path / "lengths.jsonl"
    path.write_text(
        '{"query": "hi", "response": "ok"}\n'
        '{"query": "' + "very long question " * 20 + '", "response": "x"}\n'
        '{"query": "yo", "response": "ok"}\n'
    )
    train, _ = load("--dataset", str(path))
    encoder = ChatEncoder(tiny_tokenizer, max_length=24)
    with caplog.at_level(logging.WARNING, logger="swiftk.datasets"):
        encoded = encode_dataset(train, encoder, num_proc=2)
    assert len(encoded) == 2 and encoded.column_names == ["input_ids", "labels"]
    summary = next(r.getMessage() for r in caplog.records if "dropped" in r.getMessage())
    assert "tokenization: dropped 1 of 3 rows (1 too long); first: " in summary and f"{path}:2: " in summary
    with pytest.raises(UsageError, match=rf"^{path}:2: .* tokens > max_length 24 \(--strict true"):
        encode_dataset(train, encoder, strict=True)
    with pytest.raises(UsageError, match=r"tokenization: no rows left: all 3 rows were dropped \(3 too long\)"):
        encode_dataset(train, ChatEncoder(tiny_tokenizer, max_length=2))


def test_lazy_tokenize_encodes_in_getitem(tmp_path, tiny_tokenizer):
    path = _write(tmp_path, 5)
    train, _ = load("--dataset", str(path))
    calls = []

    def encode(row):
        calls.append(row["messages"][0]["content"])
        if row["messages"][0]["content"] == "q1":
            raise ValueError("rejected")
        return ChatEncoder(tiny_tokenizer)(row)

    lazy = encode_dataset(train, encode, lazy=True)
    assert len(lazy) == 5 and calls == []
    assert lazy[0]["input_ids"] and calls == ["q0"]
    assert lazy[1] == lazy[2]  # a rejected row is replaced by the next one
    with pytest.raises(UsageError, match=rf"{path}:2: rejected"):
        encode_dataset(train, encode, lazy=True, strict=True)[1]


@pytest.mark.slow
def test_num_proc_2_tokenization_matches_one_process(tmp_path, tiny_tokenizer):
    path = _write(tmp_path, 4000)
    train, _ = load("--dataset", str(path), "--dataset_num_proc", "2")
    encoder = ChatEncoder(tiny_tokenizer)
    one = encode_dataset(train, encoder, num_proc=1)
    two = encode_dataset(train, encoder, num_proc=2)
    assert one["input_ids"][:] == two["input_ids"][:]
