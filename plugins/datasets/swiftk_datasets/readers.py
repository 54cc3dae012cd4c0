"""Local files (.jsonl, .json, .csv, .parquet) read into Arrow tables whose rows know their line.

Every row gets an ``__origin__`` (``data/train.jsonl:17``).  JSON lines are parsed by pyarrow
when the file is clean (fast, in C++); when it is not (a malformed line, a type that changes from
row to row) the file is read again line by line, so that each bad line is a bad row with its
number instead of one unreadable file.  A column whose values change type from row to row is
kept as JSON text (listed in ``json_columns``) rather than failing the whole file.

What is wrong with a whole file stops the run with one line naming it: an empty file, a JSON array
under a .jsonl name, bytes that are not UTF-8 (an encoding belongs to the file: dropping only the
rows with accents would quietly skew the data), an unreadable Parquet file.  An object that repeats
a key is a bad row (``duplicate key``): JSON keeps only the last value, so the row is ambiguous.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa

from swiftk.api import UsageError
from swiftk_datasets.errors import Dropped

ORIGIN = "__origin__"
FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
_TEXT_SUFFIXES = (".jsonl", ".json", ".csv")


@dataclass
class ReadResult:
    """One file (or several) as a table, the rows dropped while reading, and its JSON-text columns."""

    table: pa.Table
    dropped: list[Dropped] = field(default_factory=list)
    json_columns: frozenset = frozenset()
    total: int = 0  # rows read, dropped ones included


def check_suffix(path: str, display: str) -> str:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FILE_SUFFIXES:
        raise UsageError(
            f"--dataset {display}: unsupported file type '{suffix or '(none)'}'; "
            f"supported: {', '.join(FILE_SUFFIXES)} files and folders of them"
        )
    return suffix


def read_file(path: str, display: str, order: int = 0) -> ReadResult:
    """Read one local file; ``display`` is how messages name it, ``order`` sorts it among files."""
    suffix = check_suffix(path, display)
    _refuse_empty(path, display)
    if suffix == ".jsonl":
        return _read_jsonl(path, display, order)
    if suffix == ".json":
        return _from_records(list(iter_json(path, display, order)), display)
    if suffix == ".csv":
        return _from_records(list(iter_csv(path, display, order)), display)
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise _bad_parquet(display, exc) from None
    origins = pa.array([f"{display}[{i}]" for i in range(table.num_rows)], pa.string())
    return ReadResult(_with_origin(table, origins), total=table.num_rows)


def iter_rows(path: str, display: str, order: int = 0) -> Iterator[tuple[str, Any]]:
    """``(origin, row dict or Dropped)`` one at a time, for streaming."""
    suffix = check_suffix(path, display)
    _refuse_empty(path, display)
    if suffix == ".jsonl":
        yield from iter_jsonl(path, display, order)
    elif suffix == ".json":
        yield from iter_json(path, display, order)
    elif suffix == ".csv":
        yield from iter_csv(path, display, order)
    else:
        import pyarrow.parquet as pq

        index = 0
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _bad_parquet(display, exc) from None
        for batch in parquet.iter_batches():
            for row in batch.to_pylist():
                yield f"{display}[{index}]", row
                index += 1


_EXPECTED = {
    ".jsonl": "one JSON object per line",
    ".json": "a list of records",
    ".csv": "a header row, then one row per record",
    ".parquet": "a table (pandas' to_parquet, pyarrow)",
}


def _refuse_empty(path: str, display: str) -> None:
    if os.path.getsize(path) == 0:
        expected = _EXPECTED[os.path.splitext(path)[1].lower()]
        raise UsageError(f"--dataset {display}: the file is empty (0 bytes); it should hold {expected}")


def _bad_parquet(display: str, exc: Exception) -> UsageError:
    return UsageError(
        f"--dataset {display}: not a readable Parquet file ({exc}); "
        f"write it with pandas' to_parquet or pyarrow.parquet.write_table"
    )


def _not_utf8(display: str, lineno: int, raw: bytes, exc: UnicodeDecodeError) -> UsageError:
    return UsageError(
        f"{display}:{lineno}: not UTF-8: byte {exc.start + 1} of the line is 0x{raw[exc.start]:02x}; "
        f"dataset files are read as UTF-8: convert the file (e.g. iconv -f latin1 -t utf-8)"
    )


def _first_non_utf8(path: str, display: str) -> UsageError:
    """The error for a file that failed to decode: its first line that is not UTF-8."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                return _not_utf8(display, lineno, raw, exc)
    return UsageError(f"--dataset {display}: not UTF-8 text")


class DuplicateKey(ValueError):
    """An object that repeats a key; ``pos`` is where the object starts, once known."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key
        self.pos: int | None = None


def _unique_pairs(pairs: list) -> dict:
    """``object_pairs_hook`` refusing duplicate keys (``json`` silently keeps the last value)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set = set()
        raise DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_unique_pairs)


def _duplicate_at(text: str, pos: int) -> int:
    """Where the object with a duplicate key starts, for the value at ``pos`` (only on that error path:
    the C scanner does not say, the pure-Python one hands each object its start)."""
    from json.scanner import py_make_scanner

    decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs)

    def parse_object(state: tuple, *rest: Any) -> Any:
        try:
            return json.decoder.JSONObject(state, *rest)
        except DuplicateKey as exc:
            exc.pos = state[1] - 1 if exc.pos is None else exc.pos  # state[1]: just after the '{'
            raise

    decoder.parse_object = parse_object
    decoder.scan_once = py_make_scanner(decoder)
    try:
        decoder.raw_decode(text, pos)
    except DuplicateKey as exc:
        return exc.pos
    return pos


def _duplicate_message(exc: DuplicateKey, where: str = "one object") -> str:
    return f"duplicate key: '{exc.key}' appears twice in {where} (JSON would keep only the last value); keep one"


# --- JSON lines ------------------------------------------------------------------------------


def _read_jsonl(path: str, display: str, order: int) -> ReadResult:
    import pyarrow.json as pj

    try:
        table = pj.read_json(path)  # fails on bad lines and duplicate keys: those are read line by line
        table.validate(full=True)  # pyarrow does not check that strings are UTF-8
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return _from_records(list(iter_jsonl(path, display, order)), display)
    lines = _row_lines(path, table.num_rows)
    origins = pa.array([f"{display}:{n}" for n in lines], pa.string())
    return ReadResult(_with_origin(table, origins), total=table.num_rows)


def _row_lines(path: str, rows: int) -> range | list[int]:
    """The line number of each row pyarrow read (it skips blank lines)."""
    newlines, last = 0, b""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    lines = newlines + (1 if last and last != b"\n" else 0)
    if lines == rows:
        return range(1, rows + 1)
    with open(path, "rb") as f:
        return [n for n, raw in enumerate(f, 1) if raw.strip()]


def iter_jsonl(path: str, display: str, order: int = 0) -> Iterator[tuple[str, Any]]:
    first = True
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(display, lineno, raw, exc) from None
            if first:
                _refuse_array(text, display, lineno)
                first = False
            origin = f"{display}:{lineno}"
            yield origin, _parse_line(text, origin, (order, lineno))


def _refuse_array(text: str, display: str, lineno: int) -> None:
    """A .jsonl file whose first line opens a JSON array spanning lines, or is an array of objects:
    the file is one JSON array (a .json file), not JSON lines."""
    if not text.lstrip().startswith("["):
        return
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None  # the array goes on past this line
    else:
        if not (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
            return  # a line holding some other array: a bad row like any other
    raise UsageError(
        f"--dataset {display}: line {lineno} starts a JSON array, but a .jsonl file holds one JSON "
        f"object per line; rename the file to .json or write one object per line"
    )


def _parse_line(text: str, origin: str, key: tuple) -> Any:
    try:
        value = _loads(text)
    except json.JSONDecodeError as exc:
        return Dropped(origin, "invalid JSON", f"invalid JSON: {exc.msg} at column {exc.colno}", key)
    except DuplicateKey as exc:
        return Dropped(origin, "duplicate key", _duplicate_message(exc), key)
    if not isinstance(value, dict):
        return Dropped(origin, "not an object", f"is a JSON {_json_kind(value)}, not an object with columns", key)
    return value


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


# --- JSON documents --------------------------------------------------------------------------


def iter_json(path: str, display: str, order: int = 0) -> Iterator[tuple[str, Any]]:
    """A .json file: a list of records, ``{"data": [records]}``, columns of equal length, one record,
    or JSON lines under a .json name.  Each record is located at its line in the file."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise _first_non_utf8(path, display) from None
    start = len(text) - len(text.lstrip())
    if text[start : start + 1] == "[":
        yield from _array_records(text, start, display, order)
        return
    try:
        document = _loads(text)
    except (json.JSONDecodeError, DuplicateKey) as exc:
        try:
            json.loads(text)
        except json.JSONDecodeError as plain:
            if plain.msg == "Extra data":  # JSON lines under a .json name
                yield from iter_jsonl(path, display, order)
                return
            raise UsageError(
                f"--dataset {display}: not valid JSON: {plain.msg} at line {plain.lineno} column {plain.colno}"
            ) from None
        line = 1 + text.count("\n", 0, _duplicate_at(text, start))
        raise UsageError(f"{display}:{line}: {_duplicate_message(exc, 'the object starting here')}") from None
    if not isinstance(document, dict):
        raise UsageError(
            f"--dataset {display}: a .json dataset is a list of records, got a JSON {_json_kind(document)}"
        )
    lists = {k: v for k, v in document.items() if isinstance(v, list)}
    if len(lists) == 1 and all(isinstance(r, dict) for r in next(iter(lists.values()))):
        records = next(iter(lists.values()))  # {"data": [...]}
    elif lists and len(lists) == len(document) and len({len(v) for v in lists.values()}) == 1:
        n = len(next(iter(lists.values())))  # columns: {"query": [...], "response": [...]}
        records = [{k: v[i] for k, v in lists.items()} for i in range(n)]
    else:
        records = [document]
    for i, record in enumerate(records):
        origin = f"{display}[{i}]"
        yield (
            origin,
            record
            if isinstance(record, dict)
            else Dropped(
                origin, "not an object", f"is a JSON {_json_kind(record)}, not an object with columns", (order, i)
            ),
        )


def _array_records(text: str, start: int, display: str, order: int) -> Iterator[tuple[str, Any]]:
    decoder = json.JSONDecoder(object_pairs_hook=_unique_pairs)
    pos, line, counted = start + 1, 1 + text.count("\n", 0, start), start
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            raise UsageError(f"--dataset {display}: the JSON array is not closed (missing ']')")
        if text[pos] == "]":
            return
        line += text.count("\n", counted, pos)
        counted = pos
        origin = f"{display}:{line}"
        try:
            try:
                value, end = decoder.raw_decode(text, pos)
            except DuplicateKey as exc:  # a bad row, if the record parses without the check
                _, end = json.JSONDecoder().raw_decode(text, pos)
                at = 1 + text.count("\n", 0, _duplicate_at(text, pos))
                value = Dropped(
                    origin, "duplicate key", _duplicate_message(exc, f"the object at line {at}"), (order, line)
                )
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"{origin}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} "
                f"(a .json file must parse as a whole; .jsonl files are read line by line)"
            ) from None
        if isinstance(value, (dict, Dropped)):
            yield origin, value
        else:
            yield (
                origin,
                Dropped(
                    origin, "not an object", f"is a JSON {_json_kind(value)}, not an object with columns", (order, line)
                ),
            )
        pos = end


# --- CSV -------------------------------------------------------------------------------------


def iter_csv(path: str, display: str, order: int = 0) -> Iterator[tuple[str, Any]]:
    """CSV rows as dicts; empty cells are missing values; a row spanning lines is named by its first."""
    try:
        yield from _csv_rows(path, display, order)
    except UnicodeDecodeError:
        raise _first_non_utf8(path, display) from None


def _csv_rows(path: str, display: str, order: int) -> Iterator[tuple[str, Any]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            return
        if len(set(header)) != len(header):
            raise UsageError(f"--dataset {display}: the CSV header repeats a column name: {', '.join(header)}")
        start = reader.line_num + 1
        for cells in reader:
            origin = f"{display}:{start}"
            if not any(c.strip() for c in cells):
                start = reader.line_num + 1
                continue
            if len(cells) != len(header):
                yield (
                    origin,
                    Dropped(
                        origin, "bad CSV row", f"has {len(cells)} cells, the header has {len(header)}", (order, start)
                    ),
                )
            else:
                yield origin, {k: (v if v != "" else None) for k, v in zip(header, cells)}
            start = reader.line_num + 1


# --- records -> table ------------------------------------------------------------------------


def _from_records(items: list[tuple[str, Any]], display: str) -> ReadResult:
    dropped = [v for _, v in items if isinstance(v, Dropped)]
    good = [(o, v) for o, v in items if not isinstance(v, Dropped)]
    records = [v for _, v in good]
    table, json_columns = records_table(records)
    origins = pa.array([o for o, _ in good], pa.string())
    return ReadResult(_with_origin(table, origins), dropped, json_columns, total=len(items))


def records_table(records: list[dict]) -> tuple[pa.Table, frozenset]:
    """Rows to a table; a column whose values do not share one Arrow type becomes JSON text."""
    columns: dict[str, None] = {}
    for record in records:
        for key in record:
            columns.setdefault(key, None)
    arrays, json_columns = [], set()
    for key in columns:
        values = [r.get(key) for r in records]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
            arrays.append(
                pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())
            )
            json_columns.add(key)
    if not columns:
        return pa.table({}), frozenset()
    return pa.table(dict(zip(columns, arrays))), frozenset(json_columns)


def _with_origin(table: pa.Table, origins: pa.Array) -> pa.Table:
    if ORIGIN in table.column_names:
        table = table.drop_columns([ORIGIN])
    if table.num_columns == 0:
        return pa.table({ORIGIN: origins})
    return table.append_column(ORIGIN, origins)


def concat_results(results: list[ReadResult]) -> ReadResult:
    """Several files as one table; columns that disagree in type across files become JSON text."""
    if len(results) == 1:
        return results[0]
    tables = [r.table for r in results]
    json_columns = set().union(*(r.json_columns for r in results))
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        names: dict[str, set] = {}
        for t in tables:
            for f in t.schema:
                names.setdefault(f.name, set()).add(str(f.type))
        clash = {n for n, types in names.items() if len(types - {"null"}) > 1} | json_columns
        tables = [_as_json_text(r.table, clash, r.json_columns) for r in results]
        table = pa.concat_tables(tables, promote_options="permissive")
        json_columns |= clash
    dropped = [d for r in results for d in r.dropped]
    return ReadResult(table, dropped, frozenset(json_columns), sum(r.total for r in results))


def _as_json_text(table: pa.Table, columns: set, already: frozenset) -> pa.Table:
    """Encode ``columns`` of one file's table as JSON text (those it already holds as JSON stay)."""
    for name in columns:
        if name not in table.column_names or name in already:
            continue
        values = table.column(name).to_pylist()
        text = pa.array([None if v is None else json.dumps(v, ensure_ascii=False) for v in values], pa.string())
        table = table.set_column(table.schema.get_field_index(name), name, text)
    return table
