"""Files that are wrong as a whole (empty, a JSON array named .jsonl, not UTF-8, not Parquet) stop the
run with one line naming the file and what is wrong; an object that repeats a key is a bad row."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from swiftk.errors import UsageError

from ds_helpers import load, messages
from ds_helpers import offline_fresh_host  # noqa: F401 (fixture)

GOOD = '{"query": "q1", "response": "r1"}\n'
LATIN1 = '{"query": "café", "response": "r2"}\n'.encode("latin-1")


def _write(path, content) -> str:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


@pytest.mark.parametrize("name", ["data.jsonl", "data.json", "data.csv", "data.parquet"])
def test_an_empty_file_is_named_with_what_it_should_hold(tmp_path, name):
    path = _write(tmp_path / name, b"")
    for streaming in ("false", "true"):
        with pytest.raises(UsageError, match=rf"^--dataset {path}: the file is empty \(0 bytes\); it should hold "):
            load("--dataset", path, "--streaming", streaming, "--max_steps", "1")


def test_a_json_array_saved_as_jsonl(tmp_path):
    records = [{"query": "q1", "response": "r1"}, {"query": "q2", "response": "r2"}]
    one_line = _write(tmp_path / "one_line.jsonl", json.dumps(records))
    indented = _write(tmp_path / "indented.jsonl", json.dumps(records, indent=2))
    for path in (one_line, indented):
        for strict in ("false", "true"):
            with pytest.raises(
                UsageError,
                match=rf"^--dataset {path}: line 1 starts a JSON array, but a .jsonl file "
                r"holds one JSON object per line; rename the file to .json",
            ):
                load("--dataset", path, "--strict", strict)
    # the advice works: under a .json name it is a list of records
    os.rename(one_line, tmp_path / "one_line.json")
    train, _ = load("--dataset", str(tmp_path / "one_line.json"))
    assert messages(train) == [[("user", "q1"), ("assistant", "r1")], [("user", "q2"), ("assistant", "r2")]]


def test_a_line_holding_another_array_is_still_just_a_bad_row(tmp_path):
    path = _write(tmp_path / "data.jsonl", '["q", "a"]\n' + GOOD)
    train, _ = load("--dataset", path)
    assert messages(train) == [[("user", "q1"), ("assistant", "r1")]]


@pytest.mark.parametrize(
    "suffix, content, line, byte",
    [
        (".jsonl", GOOD.encode() + LATIN1, 2, 15),  # pyarrow reads it, the check catches it
        (".json", b"[\n" + GOOD.encode() + b",\n" + LATIN1 + b"]\n", 4, 15),
        (".csv", "query,response\nq1,r1\n".encode() + "café,r2\n".encode("latin-1"), 3, 4),
    ],
    ids=["jsonl", "json", "csv"],
)
def test_a_file_that_is_not_utf8_is_refused_at_its_first_bad_line(tmp_path, suffix, content, line, byte):
    path = _write(tmp_path / f"data{suffix}", content)
    for streaming in ("false", "true"):  # not a bad row to drop: dropping the rows with accents would skew the data
        with pytest.raises(
            UsageError,
            match=rf"^{path}:{line}: not UTF-8: byte {byte} of the line is 0xe9; .*"
            r"convert the file \(e.g. iconv -f latin1 -t utf-8\)",
        ):
            list(load("--dataset", path, "--streaming", streaming, "--max_steps", "1")[0])  # streamed: when read


def test_duplicate_keys_in_jsonl_are_bad_rows_naming_the_key_and_line(tmp_path):
    path = _write(
        tmp_path / "data.jsonl",
        GOOD
        + '{"query": "q2", "query": "q3", "response": "r2"}\n'
        + '{"messages": [{"role": "user", "content": "a", "content": "b"}]}\n',
    )
    train, _ = load("--dataset", path)
    assert messages(train) == [[("user", "q1"), ("assistant", "r1")]]
    with pytest.raises(
        UsageError,
        match=rf"^{path}:2: duplicate key: 'query' appears twice in one object \(JSON "
        r"would keep only the last value\); keep one \(--strict true stops",
    ):
        load("--dataset", path, "--strict", "true")
    only_bad = _write(tmp_path / "only_bad.jsonl", '{"query": "q", "response": "r", "response": "s"}\n')
    with pytest.raises(
        UsageError,
        match=rf"no rows left: all 1 rows were dropped \(1 duplicate key\); first: "
        rf"{only_bad}:1: duplicate key: 'response'",
    ):
        load("--dataset", only_bad)


def test_duplicate_keys_in_json_name_the_line_of_the_object(tmp_path):
    records = _write(
        tmp_path / "records.json",
        '[\n' + GOOD.strip() + ',\n{"query": "q2",\n "response": "r2",\n "meta": {"a": 1, "a": 2}}\n]\n',
    )
    train, _ = load("--dataset", records)
    assert messages(train) == [[("user", "q1"), ("assistant", "r1")]]
    # the record starts at line 3, the object that repeats 'a' at line 5
    with pytest.raises(UsageError, match=rf"^{records}:3: duplicate key: 'a' appears twice in the object at line 5"):
        load("--dataset", records, "--strict", "true")
    document = _write(
        tmp_path / "document.json",
        '{"data": [\n{"query": "q1", "response": "r1"},\n{"query": "q2", "response": "r2", "query": "q3"}\n]}\n',
    )
    with pytest.raises(UsageError, match=rf"^{document}:3: duplicate key: 'query' appears twice in the object"):
        load("--dataset", document)


def test_a_file_that_is_not_parquet(tmp_path):
    path = _write(tmp_path / "data.parquet", GOOD)
    with pytest.raises(UsageError, match=rf"^--dataset {path}: not a readable Parquet file \(.*\); write it with"):
        load("--dataset", path)


def test_a_json_file_with_no_records_says_so(tmp_path):
    path = _write(tmp_path / "data.json", "[]")
    with pytest.raises(UsageError, match=rf"^--dataset {path}: has no rows$"):
        load("--dataset", path)


# --- through the command line ----------------------------------------------------------------------

CASES = {
    "empty.jsonl": (b"", "the file is empty (0 bytes)"),
    "array.jsonl": (json.dumps([{"query": "q", "response": "r"}]).encode(), "line 1 starts a JSON array"),
    "latin1.jsonl": (LATIN1, ":1: not UTF-8: byte 15 of the line is 0xe9"),
    "duplicate.json": (b'[{"query": "q", "query": "q2", "response": "r"}]', ":1: duplicate key: 'query'"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_sft_prints_one_error_line_and_exits_2(tmp_path, name):
    content, expected = CASES[name]
    path = _write(tmp_path / name, content)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "swiftk",
            "sft",
            "--model",
            "swiftk/tiny-chat",
            "--dataset",
            path,
            "--max_steps",
            "1",
            "--output_dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert path in errors[0] and expected in errors[0], errors[0]
