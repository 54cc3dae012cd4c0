"""Later ms-swift (3.5+) data arguments that are not on the v3.2 page (the kernel's groups are the page's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.api import arg


@dataclass
class StreamShuffleArguments:
    """How a streamed training dataset is shuffled."""

    SECTION = "Data arguments"

    shuffle_buffer_size: Optional[int] = arg(
        None,
        "With --streaming true: shuffle the training stream through a buffer of this many rows (datasets' "
        "IterableDataset.shuffle, seed --data_seed). None: the stream's own order, as ms-swift 3.2 (ms-swift 3.12 "
        "shuffles through 1000 by default).",
    )
