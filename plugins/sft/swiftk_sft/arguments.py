"""``--padding_free``: later ms-swift's switch (not on the v3.2 page); swiftk trains padding-free by itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.api import arg


@dataclass
class PaddingFreeArguments:
    SECTION = "Training arguments"

    padding_free: Optional[bool] = arg(
        None,
        "Batches without padding (later ms-swift): unset, used where the model allows; true requires them (an error "
        "says why not); false keeps batches padded.",
    )
