"""Preprocessing of the ``kit/arith`` dataset: ``{"a": 3, "op": "+", "b": 4}`` rows become questions
with their answer (query/response form, docs/datasets.md) and a ``solution`` column for rewards."""

from __future__ import annotations

import operator
from typing import Any, Optional

_OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}
_WORDS = {"+": "plus", "-": "minus", "*": "times"}


def preprocess(row: dict[str, Any]) -> Optional[dict[str, Any]]:
    """One arithmetic row as a question and its answer; ``None`` (the row is dropped) for an operator
    the kit does not know."""
    op = row.get("op")
    if op not in _OPS:
        return None
    a, b = int(row["a"]), int(row["b"])
    answer = str(_OPS[op](a, b))
    return {
        "query": f"What is {a} {_WORDS[op]} {b}?",
        "response": f"{a} {op} {b} = {answer}",
        "solution": answer,
    }


def preprocess_add(row: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The ``add`` subset: sums only."""
    return preprocess(row) if row.get("op") == "+" else None
