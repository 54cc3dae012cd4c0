"""``--dataset`` syntax: ``[HF::|MS::]dataset_id_or_path[:subset1/subset2|all][#N]``.

As in ms-swift, an existing path wins over the syntax (so a file name containing ``:`` or ``#``
still works), the sample count is split off at the last ``#`` and the subsets at the first ``:``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from swiftk.api import UsageError


@dataclass(frozen=True)
class DatasetSpec:
    """One ``--dataset`` value, parsed."""

    raw: str
    dataset: str
    subsets: tuple[str, ...] = field(default_factory=tuple)
    sample: Optional[int] = None
    hub: Optional[str] = None  # "hf" or "ms" when the value forced one

    @property
    def all_subsets(self) -> bool:
        return self.subsets == ("all",)


def _exists(path: str) -> bool:
    return os.path.exists(os.path.expanduser(path))


def parse_spec(value: str, flag: str = "--dataset") -> DatasetSpec:
    """Parse one value of ``--dataset`` / ``--val_dataset``; a malformed one is a UsageError."""
    text = value.strip()
    if not text:
        raise UsageError(f"{flag}: an empty dataset name")
    hub = None
    prefix, sep, rest = text.partition("::")
    if sep and prefix.strip().lower() in ("hf", "ms") and not _exists(text):
        hub, text = prefix.strip().lower(), rest.strip()
    if _exists(text):
        return DatasetSpec(value, text, (), None, hub)
    sample = None
    body, sep, count = text.rpartition("#")
    if sep and not _exists(text):
        try:
            sample = int(count)
        except ValueError:
            raise UsageError(f"{flag} {value}: the sample count after '#' must be an integer, got '{count}'") from None
        if sample <= 0:
            raise UsageError(f"{flag} {value}: the sample count after '#' must be positive, got {sample}")
        text = body.strip()
    subsets: tuple[str, ...] = ()
    if not _exists(text):
        name, sep, subset_text = text.partition(":")
        if sep:
            subsets = tuple(s.strip() for s in subset_text.split("/"))
            if not all(subsets):
                raise UsageError(
                    f"{flag} {value}: empty subset name in '{subset_text}' (use 'name:subset1/subset2' or 'name:all')"
                )
            text = name.strip()
    if not text:
        raise UsageError(f"{flag} {value}: no dataset id or path before ':' / '#'")
    return DatasetSpec(value, text, subsets, sample, hub)
