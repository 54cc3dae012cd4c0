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


@dataclass
class RouterAuxLossArguments:
    SECTION = "Training arguments"

    router_aux_loss_coef: float = arg(
        0.0,
        "Weight of a mixture-of-experts model's load-balancing loss (later ms-swift); 0 turns it off (the router's "
        "logits are not returned). A model without a router refuses a value above 0.",
    )


@dataclass
class LogitsToKeepArguments:
    SECTION = "Training arguments"

    use_logits_to_keep: Optional[bool] = arg(
        None,
        "Compute the output layer only at the positions that predict a label (later ms-swift): unset, where the "
        "run allows it (padding-free batches, the model's own loss); false never; true requires it (an error "
        "says why not).",
    )


@dataclass
class EarlyStopArguments:
    SECTION = "Training arguments"

    early_stop_interval: Optional[int] = arg(
        None,
        "Stop training when --metric_for_best_model has not improved over this many saves in a row (later "
        "ms-swift; evaluation must run: set eval_steps = save_steps); None: never.",
    )


@dataclass
class DftLossArguments:
    SECTION = "Training arguments"

    enable_dft_loss: bool = arg(
        False,
        "Dynamic Fine-Tuning loss (later ms-swift): each token's cross entropy weighted by the model's probability "
        "of its label (held constant in the backward pass).",
    )


@dataclass
class VitCheckpointingArguments:
    SECTION = "Training arguments"

    vit_gradient_checkpointing: Optional[bool] = arg(
        None,
        "Multimodal models: whether the vision tower uses gradient checkpointing (later ms-swift); None follows "
        "--gradient_checkpointing. A text-only model has no vision tower: the value has no effect there.",
    )
