"""Later ms-swift (3.11+): datasets tokenized once by ``swiftk export --to_cached_dataset true``, trained from by
``--cached_dataset``. Not on the v3.2 page (the kernel's groups are the page's), so registered here; the kernel's
pipelines/cached_data.py reads them. ms-swift's own scripts use them (examples/train/cached_dataset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal

from swiftk.api import arg


@dataclass
class CachedDatasetArguments:
    """Training from a tokenized dataset (sft, pt, rlhf)."""

    SECTION = "Data arguments"

    cached_dataset: List[str] = arg(
        list,
        "Tokenized training data written by `swiftk export --to_cached_dataset true` (its train/ folder), "
        "'<folder>[#sample_count]' each; used instead of --dataset (later ms-swift).",
        hot=True,
    )
    cached_val_dataset: List[str] = arg(
        list, "Tokenized validation data (the export's val/ folder), same format as --cached_dataset."
    )


@dataclass
class CachedExportArguments:
    """Writing a tokenized dataset (swiftk export)."""

    SECTION = "Export arguments"

    to_cached_dataset: bool = arg(
        False,
        "Tokenize --dataset in advance (as the training command would) into <output_dir>/train and /val, for "
        "--cached_dataset (later ms-swift).",
    )
    template_mode: Literal["train", "rlhf", "kto"] = arg(
        "train",
        "How --to_cached_dataset encodes rows: train (sft, pt), rlhf (preference pairs, as --rlhf_type dpo), kto.",
    )
