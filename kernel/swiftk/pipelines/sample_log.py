"""Show the first encoded training sample, as ms-swift does, so a wrong template is seen at once.

``[INPUT_IDS]``/``[INPUT]`` are the token ids and their decoded text; ``[LABELS_IDS]``/``[LABELS]``
the labels, where each run of masked positions (-100) is shown as one ``[-100 * N]``.  Preference
rows show their ``chosen_``/``rejected_`` halves the same way.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

__all__ = ["decode_with_masks", "format_sample", "log_first_sample"]

_PREFIXES = ("", "chosen_", "rejected_", "prompt_", "completion_")


def decode_with_masks(ids: Sequence[int], tokenizer: Any) -> str:
    """Decode ``ids``; each run of negative ids (masked labels) becomes ``[-100 * N]``."""
    out: list[str] = []
    i = 0
    while i < len(ids):
        j = i + 1
        if ids[i] < 0:
            while j < len(ids) and ids[j] == ids[i]:
                j += 1
            out.append(f"[{ids[i]} * {j - i}]")
        else:
            while j < len(ids) and ids[j] >= 0:
                j += 1
            out.append(tokenizer.decode(list(ids[i:j]), skip_special_tokens=False))
        i = j
    return "".join(out)


def _ids(value: Any) -> Optional[list[int]]:
    if value is None:
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return list(value)
    return None


def _parts(row: dict) -> Iterator[tuple[str, list[int]]]:
    for prefix in _PREFIXES:
        for field in ("input_ids", "labels"):
            ids = _ids(row.get(prefix + field))
            if ids is not None:
                yield (prefix + field).upper().replace("_IDS", ""), ids


def format_sample(row: dict, tokenizer: Any) -> str:
    """The lines that :func:`log_first_sample` prints for one encoded row."""
    lines = []
    for name, ids in _parts(row):
        lines.append(f"[{name}_IDS] {ids}")
        lines.append(f"[{name}] {decode_with_masks(ids, tokenizer)}")
    return "\n".join(lines)


def log_first_sample(dataset: Any, template: Any) -> None:
    """Print the first encoded row of ``dataset`` once, on the main process only."""
    from swiftk.run_record import is_main_process

    if dataset is None or not is_main_process():
        return
    tokenizer = getattr(template, "tokenizer", None)
    if tokenizer is None:
        return
    try:
        row = next(iter(dataset))
    except StopIteration:
        return
    text = format_sample(dict(row), tokenizer)
    if text:
        print(text, flush=True)
