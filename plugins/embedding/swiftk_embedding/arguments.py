"""``--reranker_use_activation``: ms-swift 3.12's switch for the scores a reranker serves."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.api import arg


@dataclass
class RerankerServingArguments:
    SECTION = "Inference arguments"

    reranker_use_activation: bool = arg(
        True, "A reranker's served score is the sigmoid of its logit (a probability); false: the raw logit."
    )
