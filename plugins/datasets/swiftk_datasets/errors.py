"""Bad rows and the reports users act on.

A row that cannot be used raises :class:`BadRow` (a ``ValueError``) with a short ``kind`` that
groups the summary ("bad role", "no response") and the column at fault.  Every row carries its
origin (``data/train.jsonl:17``), so a summary or a strict-mode error can point at the line to fix:
the most common complaint about fine-tuning tools is a dataset error that says neither where nor why.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Optional

from swiftk.api import UsageError

logger = logging.getLogger("swiftk.datasets")

#: How many bad rows a summary quotes.
SHOWN = 3


class BadRow(ValueError):
    """One row that cannot become a standard row."""

    def __init__(self, kind: str, message: str, column: Optional[str] = None):
        super().__init__(message)
        self.kind = kind
        self.column = column
        self.message = message

    def describe(self) -> str:
        """``column 'messages': role 'bot' is not ...`` (the column first, when known)."""
        return f"column '{self.column}': {self.message}" if self.column else self.message


@dataclass(frozen=True)
class Dropped:
    """A dropped row: where it came from, why, and its position (for "the first bad row")."""

    origin: str
    kind: str
    message: str
    order: tuple = ()

    def line(self) -> str:
        return f"{self.origin}: {self.message}"


def encode_error(kind: str, message: str) -> str:
    """Pack a reason into the one string column that carries it out of a worker process."""
    return f"{kind}\t{message}"


def decode_error(value: str) -> tuple[str, str]:
    kind, _, message = value.partition("\t")
    return kind, message


def origin_key(origin: str, file_order: dict) -> tuple:
    """A sort key in file order for ``path:line`` or ``name[index]`` origins."""
    base, sep, tail = origin.rpartition(":")
    if sep and tail.isdigit():
        return (file_order.get(base, 0), int(tail))
    base, sep, tail = origin.rpartition("[")
    if sep and tail.endswith("]") and tail[:-1].isdigit():
        return (file_order.get(base, 0), int(tail[:-1]))
    return (len(file_order), 0)


def kind_of(exc: BaseException) -> str:
    """The summary group of an exception raised by user code (a template, a preprocess_func):
    its ``kind`` attribute when it has one (``"too long"``), else its class name."""
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str) and kind:
        return kind
    return type(exc).__name__


class DropReport:
    """The rows one step dropped, counted by reason, with the first few quoted."""

    def __init__(self, what: str):
        self.what = what
        self.rows: list[Dropped] = []
        self.total = 0  # rows looked at

    def add(self, dropped: Dropped) -> None:
        self.rows.append(dropped)

    def extend(self, rows: Iterable[Dropped]) -> None:
        self.rows.extend(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def first(self) -> Optional[Dropped]:
        return min(self.rows, key=lambda d: d.order) if self.rows else None

    def counts(self) -> str:
        """``7 bad role, 2 invalid JSON``, most frequent first."""
        counter = Counter(d.kind for d in self.rows)
        return ", ".join(f"{n} {kind}" for kind, n in counter.most_common())

    def examples(self) -> str:
        shown = sorted(self.rows, key=lambda d: d.order)[:SHOWN]
        more = f"; ... ({len(self.rows) - len(shown)} more)" if len(self.rows) > len(shown) else ""
        return "; ".join(d.line() for d in shown) + more

    def summary(self) -> str:
        return f"{self.what}: dropped {len(self.rows)} of {self.total} rows ({self.counts()}); first: {self.examples()}"

    def log(self) -> None:
        if self.rows:
            logger.warning(self.summary())

    def raise_strict(self, flag: str = "--strict true") -> None:
        """In strict mode: stop at the first bad row, naming file, line, column and reason."""
        first = self.first()
        if first is not None:
            raise UsageError(
                f"{first.line()} ({flag} stops at the first bad row; with --strict false "
                f"bad rows are dropped and counted)"
            )

    def raise_if_empty(self, left: int, hint: str = "") -> None:
        """No row survived: say how many were dropped and why, instead of a bare "empty dataset"."""
        if left > 0:
            return
        if not self.rows:
            raise UsageError(f"{self.what}: has no rows{hint}")
        raise UsageError(
            f"{self.what}: no rows left: all {len(self.rows)} rows were dropped "
            f"({self.counts()}); first: {self.examples()}{hint}"
        )
