"""``--streaming true``: rows are read, standardized and checked as the trainer iterates.

Nothing is materialised: a source becomes an ``IterableDataset`` whose generator reads the
files (or the hub/disk dataset) row by row.  A bad row stops the run in strict mode and is
counted and skipped otherwise; the summary is logged when the stream ends.
"""

from __future__ import annotations

from typing import Any, Iterator

from swiftk.api import UsageError
from swiftk_datasets.errors import SHOWN, BadRow, Dropped, DropReport, logger
from swiftk_datasets.mapping import rename_row
from swiftk_datasets.preprocess import STANDARD_COLUMNS, RowStandardizer
from swiftk_datasets.readers import ORIGIN, iter_rows
from swiftk_datasets.sources import Source


def raw_rows(source: Source, flag: str, download_mode: str, token: Any = None) -> Iterator[tuple[str, Any]]:
    """``(origin, row or Dropped)`` for every row of a source, lazily."""
    if source.kind == "files":
        for order, (path, display) in enumerate(source.files):
            yield from iter_rows(path, display, order)
        return
    if source.kind == "disk":
        import datasets

        loaded = datasets.load_from_disk(source.location)
        parts = [(s, loaded[s]) for s in source.splits] if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
        for split, ds in parts:
            for i, row in enumerate(ds):
                yield f"{source.display}{'/' + split if split else ''}[{i}]", row
        return
    for split in source.splits:
        if source.kind == "hub":
            from swiftk_datasets.hub import load_hub

            ds = load_hub(
                source.location,
                source.subset,
                split,
                flag=flag,
                streaming=True,
                download_mode=download_mode,
                revision=source.revision,
                modelscope=source.modelscope,
                token=token,
            )
        else:
            import datasets

            name = None if source.subset in (None, "default") else source.subset
            ds = datasets.load_dataset(source.location, name, split=split, streaming=True)
        for i, row in enumerate(ds):
            yield f"{source.display}/{split}[{i}]", row


def generate(
    source: Source,
    standardizer: RowStandardizer,
    columns: dict,
    strict: bool,
    keep_unused: bool,
    flag: str,
    download_mode: str,
    token: Any = None,
) -> Iterator[dict]:
    """The generator behind a streamed source."""
    report = DropReport(f"{flag} {source.display}")
    keys = None
    for origin, row in raw_rows(source, flag, download_mode, token):
        report.total += 1
        if not isinstance(row, Dropped):
            try:
                row = standardizer(rename_row(row, columns))
            except BadRow as exc:
                row = Dropped(origin, exc.kind, exc.describe(), (report.total,))
        if isinstance(row, Dropped):
            if strict:
                report.add(row)
                report.raise_strict()
            if len(report) < SHOWN:
                logger.warning(f"dropped {row.line()}")
            report.add(row)
            continue
        if keys is None:
            keys = [k for k in row if keep_unused or k in STANDARD_COLUMNS]
        out = {k: row.get(k) for k in keys}
        out[ORIGIN] = origin
        yield out
    if keys is None:
        report.raise_if_empty(0, " (streamed)")
    report.log()


def stream_source(
    source: Source,
    standardizer: RowStandardizer,
    columns: dict,
    *,
    strict: bool,
    keep_unused: bool,
    flag: str,
    download_mode: str,
    token: Any = None,
) -> Any:
    """An ``IterableDataset`` over a source; its first row is read now, so an unusable source fails here."""
    from datasets import IterableDataset

    kwargs = dict(
        source=source,
        standardizer=standardizer,
        columns=columns,
        strict=strict,
        keep_unused=keep_unused,
        flag=flag,
        download_mode=download_mode,
        token=token,
    )
    dataset = IterableDataset.from_generator(generate, gen_kwargs=kwargs)
    try:
        next(iter(dataset))
    except StopIteration:
        raise UsageError(f"{flag} {source.display}: has no rows") from None
    return dataset
