"""Dataset rows as ``swiftk sample`` uses them: their id, prompt, reference answer and reward columns."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Optional

from swiftk.api import ORIGIN


def original(row: dict) -> dict:
    """The row as the data gave it: without the origin column and the empty columns other files added."""
    return {k: v for k, v in row.items() if k != ORIGIN and v is not None}


def row_id(row: dict) -> str:
    """An md5 of the original row (ms-swift's ``get_messages_md5``): the two-phase flow of ``--cache_files``
    matches completions to rows by it, so it must not depend on where the file lies."""
    return hashlib.md5(json.dumps(original(row), sort_keys=True).encode("utf-8")).hexdigest()


def reference(row: dict) -> Optional[str]:
    """The row's reference answer: its ``solution`` column, else its final assistant message."""
    if row.get("solution") is not None:
        return str(row["solution"])
    messages = row.get("messages") or []
    if messages and messages[-1].get("role") == "assistant":
        return messages[-1].get("content")
    return None


def prompt(row: dict, system: Optional[str] = None) -> list[dict]:
    """The conversation to answer: the final assistant message (a reference) removed, ``--system`` put in."""
    messages = [dict(m) for m in row.get("messages") or []]
    if messages and messages[-1].get("role") == "assistant":
        messages.pop()
    if system is not None:
        if messages and messages[0].get("role") == "system":
            messages[0]["content"] = system
        else:
            messages.insert(0, {"role": "system", "content": system})
    return messages


def reward_columns(rows: list[dict], system: Optional[str] = None) -> dict[str, list[Any]]:
    """Keyword columns for reward functions, one value per row: the row's own columns (``messages`` is the
    prompt), and ``solution`` from the reference answer when the data has no such column."""
    keys: list[str] = []
    for row in rows:
        keys += [k for k in original(row) if k not in keys]
    columns = {k: [row.get(k) for row in rows] for k in keys if k != "messages"}
    columns["messages"] = [prompt(row, system) for row in rows]
    if "solution" not in columns:
        columns["solution"] = [reference(row) for row in rows]
    return columns


def output_line(row: dict, answer: str, system: Optional[str] = None, **extra: Any) -> dict:
    """One output line: the row's columns with ``messages`` ending in ``answer`` (what ``swiftk sft`` trains on),
    its ``id`` and ``extra`` (scores, ``rejected_response``)."""
    line = {k: v for k, v in original(row).items() if k != "messages"}
    line["messages"] = prompt(row, system) + [{"role": "assistant", "content": answer}]
    line["id"] = row_id(row)
    line.update({k: v for k, v in extra.items() if v is not None})
    return line


def read_cache(paths: list[str]) -> dict[str, list[str]]:
    """Row id -> the completions an earlier run wrote for it (``--cache_files``, lines of ``id`` + ``messages``)."""
    from swiftk.api import UsageError

    cache: dict[str, list[str]] = {}
    for path in paths:
        try:
            f = open(path, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--cache_files {path}: cannot read it ({exc.strerror})") from None
        with f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    messages = item["messages"]
                    uid = item["id"]
                except (ValueError, KeyError, TypeError):
                    raise UsageError(
                        f"--cache_files {path}:{number}: not a line of `swiftk sample` (JSON with 'id' and 'messages')"
                    ) from None
                if not messages or messages[-1].get("role") != "assistant":
                    raise UsageError(f"--cache_files {path}:{number}: the last message is not the assistant's answer")
                cache.setdefault(uid, []).append(messages[-1]["content"])
    return cache
