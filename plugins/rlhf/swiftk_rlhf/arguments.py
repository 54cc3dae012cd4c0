"""Arguments later ms-swift 3.x added to ``swift rlhf`` (not on the v3.2 page), registered for ``swiftk rlhf``:
GKD's teacher and sampling mix, and DPO's per-loss weights (MPO).  Each is checked by the type that reads it
(:mod:`swiftk_rlhf.args`); another type refuses it rather than ignore it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

from swiftk.api import arg


@dataclass
class GKDArguments:
    SECTION = "RLHF arguments"

    teacher_model: Optional[str] = arg(None, "GKD: the teacher model (folder or id); required by --rlhf_type gkd.")
    teacher_adapters: List[str] = arg(list, "GKD: adapter checkpoints merged into the teacher model.")
    teacher_model_type: Optional[str] = arg(None, "GKD: model_type of the teacher model.")
    teacher_model_revision: Optional[str] = arg(None, "GKD: revision of the teacher model.")
    lmbda: float = arg(0.5, "GKD: share of steps trained on the student's own sampled answers (on-policy).")
    seq_kd: bool = arg(False, "GKD: on the other steps, train on the teacher's sampled answers (sequence-level KD).")


@dataclass
class LossWeightsArguments:
    SECTION = "RLHF arguments"

    loss_weights: Optional[List[float]] = arg(
        None, "DPO with several --loss_type values (MPO): one weight per loss; None weighs each 1.0."
    )


#: every argument above, by the --rlhf_type that reads it
READ_BY = {
    "gkd": ("teacher_model", "teacher_adapters", "teacher_model_type", "teacher_model_revision", "lmbda", "seq_kd"),
    "dpo": ("loss_weights",),
}
