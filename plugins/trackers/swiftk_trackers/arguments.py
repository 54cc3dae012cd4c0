"""The page's SWANLAB arguments for ``swiftk sft`` and ``swiftk pt`` (ms-swift 3.x's TrainArguments hold them;
the kernel declares them for ``swiftk rlhf`` only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

from swiftk.api import arg

TRACKERS = "swift-plugin-trackers"


@dataclass
class SwanlabTrainArguments:
    """SwanLab arguments (the seed page's "SWANLAB"), for sft and pt."""

    SECTION = "SwanLab arguments"
    SECTION_ZH = "SWANLAB"

    swanlab_token: Optional[str] = arg(None, "SwanLab API key.", plugin=TRACKERS)
    swanlab_project: Optional[str] = arg(None, "SwanLab project (create it on swanlab.cn first).", plugin=TRACKERS)
    swanlab_workspace: Optional[str] = arg(None, "SwanLab workspace; None uses the API key's user.", plugin=TRACKERS)
    swanlab_exp_name: Optional[str] = arg(None, "Experiment name; None uses output_dir.", plugin=TRACKERS)
    swanlab_mode: Literal["cloud", "local"] = arg("cloud", "SwanLab mode: cloud or local.", plugin=TRACKERS)
