"""Errors people can act on: bad rows with file:line, strict both ways, empty datasets, missing files."""

from __future__ import annotations

import logging

import pytest

from swiftk.errors import UsageError

from ds_helpers import load, messages
from ds_helpers import data_dir, offline_fresh_host, tiny_tokenizer  # noqa: F401 (fixtures)


def test_strict_false_drops_bad_rows_with_a_summary_by_reason(data_dir, caplog):
    path = data_dir / "bad_rows.jsonl"
    with caplog.at_level(logging.WARNING, logger="swiftk.datasets"):
        train, _ = load("--dataset", str(path))
    assert [m[0][1] for m in messages(train)] == ["ok 1", "ok 2", "ok 3"]
    summary = next(r.getMessage() for r in caplog.records if "dropped" in r.getMessage())
    assert "dropped 6 of 9 rows" in summary
    for reason in (
        "1 bad role",
        "1 no response",
        "1 invalid JSON",
        "1 empty response",
        "1 bad order",
        "1 no conversation",
    ):
        assert reason in summary, summary
    # the first few, in file order, with file:line and the column
    assert f"first: {path}:3: column 'messages': role 'narrator' of messages[0] is not one of system, user" in summary
    assert f"{path}:4: column 'messages': the conversation ends with a 'user' message" in summary
    assert f"{path}:5: invalid JSON" in summary


def test_strict_true_stops_at_the_first_bad_row_naming_file_line_column_reason(data_dir, tmp_path):
    path = data_dir / "bad_rows.jsonl"  # line 3: a bad role; line 5: a line that is not JSON
    with pytest.raises(UsageError) as err:
        load("--dataset", str(path), "--strict", "true")
    message = str(err.value)
    assert message.startswith(f"{path}:3: column 'messages': role 'narrator' of messages[0] is not one of")
    assert "--strict true" in message and "\n" not in message

    unreadable_first = tmp_path / "unreadable_first.jsonl"
    lines = path.read_text().splitlines(True)
    unreadable_first.write_text(lines[0] + lines[4] + lines[2])
    with pytest.raises(UsageError, match=rf"^{unreadable_first}:2: invalid JSON: "):
        load("--dataset", str(unreadable_first), "--strict", "true")


def test_empty_after_filtering_says_why(data_dir):
    with pytest.raises(UsageError) as err:
        load("--dataset", str(data_dir / "all_bad.jsonl"))
    message = str(err.value)
    assert "no rows left: all 2 rows were dropped (2 no conversation)" in message
    assert f"{data_dir / 'all_bad.jsonl'}:1: no conversation found in columns question_text, answer_text" in message
    assert "--columns" in message


def test_sft_needs_responses_grpo_does_not(data_dir):
    with pytest.raises(UsageError, match=r"no rows left: all 2 rows were dropped \(2 no response\)"):
        load("--dataset", str(data_dir / "grpo.jsonl"))
    train, _ = load("--dataset", str(data_dir / "grpo.jsonl"), "--rlhf_type", "grpo", command="rlhf")
    assert len(train) == 2


def test_dpo_needs_a_rejected_response(data_dir):
    with pytest.raises(UsageError, match=r"2 no rejected response.*--rlhf_type dpo needs a rejected answer"):
        load("--dataset", str(data_dir / "pretrain.jsonl"), "--rlhf_type", "dpo", command="rlhf")


def test_missing_file_names_the_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        UsageError,
        match=rf"--dataset data/train.jsonl: no such file or folder \(looked at {tmp_path}/data/train.jsonl\)",
    ):
        load("--dataset", "data/train.jsonl")
    with pytest.raises(UsageError, match=r"--val_dataset missing.csv: no such file"):
        load("--dataset", "swiftk/demo-sft", "--val_dataset", "missing.csv")


def test_unknown_name_suggests_and_hub_id_fails_fast_offline():
    with pytest.raises(UsageError, match=r"not a registered dataset.*did you mean 'swiftk/demo-sft'|not a registered"):
        load("--dataset", "demo-sfx")
    with pytest.raises(UsageError, match=r"--dataset someone/some-data: not a local file or folder .* offline"):
        load("--dataset", "someone/some-data")


def test_bad_spec_syntax():
    with pytest.raises(UsageError, match="sample count after '#' must be an integer"):
        load("--dataset", "swiftk/demo-sft#ten")
    with pytest.raises(UsageError, match="must be positive"):
        load("--dataset", "swiftk/demo-sft#0")
    with pytest.raises(UsageError, match="has no subset 'nope'; valid: default, qwen3, empty_think, all"):
        load("--dataset", "swift/self-cognition:nope", "--model_name", "a", "--model_author", "b")


def test_unsupported_file_type(tmp_path):
    bad = tmp_path / "data.xlsx"
    bad.write_text("x")
    with pytest.raises(UsageError, match=r"unsupported file type '.xlsx'"):
        load("--dataset", str(bad))


def test_type_changing_column_is_read_as_json_text(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"query": "a", "response": "b", "meta": "plain"}\n{"query": "c", "response": "d", "meta": {"k": 1}}\n'
    )
    train, _ = load("--dataset", str(path), "--remove_unused_columns", "false")
    assert [r["meta"] for r in train] == ['"plain"', '{"k": 1}']
    assert len(messages(train)) == 2
