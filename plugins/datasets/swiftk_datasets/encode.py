"""Tokenizing standard rows with a template's encode function, with the same bad-row rules.

``encode_fn(row) -> dict`` (``input_ids``, ``labels``, ...) may raise a ``ValueError`` (a subclass
such as "too long" with a ``kind`` attribute reads best in the summary) to reject one row: it is
dropped and counted, or stops the run with ``--strict true``.  Any other exception is a bug and
propagates.  Three ways to run it:

* eagerly, as a ``datasets`` map over ``num_proc`` processes (the default);
* lazily (``--lazy_tokenize true``): :class:`LazyEncodedDataset` encodes in ``__getitem__``;
* on a streamed ``IterableDataset``: a lazy map that skips rejected rows.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from swiftk.api import UsageError
from swiftk_datasets.errors import SHOWN, Dropped, DropReport, decode_error, encode_error, kind_of, logger
from swiftk_datasets.readers import ORIGIN

ERROR = "__error__"
EncodeFn = Callable[[dict], dict]


def _row_input(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != ORIGIN}


def _strict_error(origin: str, exc: BaseException) -> UsageError:
    return UsageError(
        f"{origin}: {exc} (--strict true stops at the first row the template rejects; "
        f"with --strict false such rows are dropped and counted)"
    )


def encode_dataset(
    dataset: Any,
    encode_fn: EncodeFn,
    *,
    num_proc: int = 1,
    lazy: bool = False,
    strict: bool = False,
    load_from_cache_file: bool = False,
    cache_file_name: Optional[str] = None,
    desc: str = "Tokenizing",
) -> Any:
    """``dataset`` with ``encode_fn`` applied to each row (see the module docstring)."""
    from datasets import IterableDataset

    if isinstance(dataset, IterableDataset):
        return _encode_stream(dataset, encode_fn, strict)
    if lazy:
        return LazyEncodedDataset(dataset, encode_fn, strict=strict)
    return _encode_eager(dataset, encode_fn, num_proc, strict, load_from_cache_file, cache_file_name, desc)


# --- eager ---------------------------------------------------------------------------------


def _encode_eager(
    dataset: Any,
    encode_fn: EncodeFn,
    num_proc: int,
    strict: bool,
    load_from_cache: bool,
    cache_file_name: Optional[str],
    desc: str,
) -> Any:
    from datasets import Dataset, Features, Value

    report = DropReport("tokenization")
    report.total = len(dataset)
    origins = dataset.column_names and ORIGIN in dataset.column_names
    probe = _probe(dataset, encode_fn, strict, report)
    if probe is None:  # every row was rejected while probing, so all of them were looked at
        report.raise_if_empty(0)
    features = Features({**Dataset.from_list([probe]).features, ERROR: Value("string")})
    report.rows.clear()  # the map sees the probed rows again
    procs = min(max(1, num_proc), max(1, len(dataset)))
    if procs > 1:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    encoded = dataset.map(
        _encode_batch,
        batched=True,
        batch_size=1000,
        fn_kwargs={"encode_fn": encode_fn, "columns": [c for c in features if c != ERROR]},
        features=features,
        remove_columns=dataset.column_names,
        num_proc=procs if procs > 1 else None,
        load_from_cache_file=load_from_cache,
        cache_file_name=cache_file_name,
        desc=desc,
    )
    errors = encoded.data.column(ERROR)
    if errors.null_count == len(errors):
        return encoded.remove_columns(ERROR)
    import numpy as np

    values = errors.to_pylist()
    bad = [i for i, e in enumerate(values) if e is not None]
    shown = dataset.select(bad[:50])[ORIGIN] if origins else [f"row {i}" for i in bad[:50]]
    for n, i in enumerate(bad):
        kind, message = decode_error(values[i])
        report.add(Dropped(shown[n] if n < len(shown) else f"row {i}", kind, message, (i,)))
    if strict:
        report.raise_strict()
    keep = np.ones(len(encoded), dtype=bool)
    keep[bad] = False
    encoded = encoded.select(np.flatnonzero(keep)).remove_columns(ERROR)
    report.raise_if_empty(len(encoded))
    report.log()
    return encoded


def _probe(dataset: Any, encode_fn: EncodeFn, strict: bool, report: DropReport) -> Optional[dict]:
    """Encode rows until one succeeds: its output fixes the column types of the map."""
    for i in range(len(dataset)):
        row = dataset[i]
        try:
            return encode_fn(_row_input(row))
        except ValueError as exc:
            origin = row.get(ORIGIN) or f"row {i}"
            if strict:
                raise _strict_error(origin, exc) from exc
            report.add(Dropped(origin, kind_of(exc), str(exc), (i,)))
    return None


def _encode_batch(batch: dict, *, encode_fn: EncodeFn, columns: list) -> dict:
    keys = [k for k in batch if k != ORIGIN]
    n = len(next(iter(batch.values()))) if batch else 0
    out: dict[str, list] = {c: [None] * n for c in columns}
    errors: list = [None] * n
    for i in range(n):
        try:
            encoded = encode_fn({k: batch[k][i] for k in keys})
        except ValueError as exc:
            errors[i] = encode_error(kind_of(exc), str(exc))
            continue
        extra = [k for k, v in encoded.items() if k not in columns and v is not None]
        if extra:  # the schema came from a row without them: storing this row would lose its media
            raise UsageError(
                f"the encoded rows differ: one carries {', '.join(sorted(extra))}, which the first encoded row "
                "did not (a text row before rows with media?); --lazy_tokenize true encodes each row on its own"
            )
        for c in columns:
            out[c][i] = encoded.get(c)
    out[ERROR] = errors
    return out


# --- lazy ----------------------------------------------------------------------------------


class LazyEncodedDataset:
    """A map-style dataset that encodes each row when it is read (``--lazy_tokenize true``).

    A rejected row is replaced by the next acceptable one (and logged), so that a batch never
    comes back short; in strict mode it stops the run instead.
    """

    MAX_SKIPS = 10

    def __init__(self, dataset: Any, encode_fn: EncodeFn, *, strict: bool = False):
        self.dataset = dataset
        self.encode_fn = encode_fn
        self.strict = strict
        self._warned = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        n = len(self.dataset)
        for step in range(min(self.MAX_SKIPS, n)):
            i = (index + step) % n
            row = self.dataset[i]
            try:
                return self.encode_fn(_row_input(row))
            except ValueError as exc:
                origin = row.get(ORIGIN) or f"row {i}"
                if self.strict:
                    raise _strict_error(origin, exc) from exc
                if self._warned < SHOWN:
                    self._warned += 1
                    logger.warning(f"tokenization skipped {origin}: {exc}")
        raise UsageError(
            f"tokenization: {min(self.MAX_SKIPS, n)} rows in a row from index {index} were rejected "
            f"by the template; check --max_length and the data"
        )


# --- streaming -----------------------------------------------------------------------------


def _encode_stream(dataset: Any, encode_fn: EncodeFn, strict: bool) -> Any:
    from datasets import IterableDataset

    return IterableDataset.from_generator(
        _stream_rows, gen_kwargs={"dataset": dataset, "encode_fn": encode_fn, "strict": strict}
    )


def _stream_rows(dataset: Any, encode_fn: EncodeFn, strict: bool):
    report = DropReport("tokenization (streamed)")
    kept = 0
    for i, row in enumerate(dataset):
        report.total += 1
        try:
            encoded = encode_fn(_row_input(row))
        except ValueError as exc:
            origin = row.get(ORIGIN) or f"row {i}"
            if strict:
                raise _strict_error(origin, exc) from exc
            report.add(Dropped(origin, kind_of(exc), str(exc), (i,)))
            continue
        kept += 1
        yield encoded
    report.raise_if_empty(kept)
    report.log()
