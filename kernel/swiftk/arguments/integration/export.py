"""The page's "导出参数" (swift export and swift merge-lora)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.arguments.fields import arg


@dataclass
class ExportArguments:
    """Export arguments (the seed page's "导出参数")."""

    SECTION = "Export arguments"
    SECTION_ZH = "导出参数"

    output_dir: Optional[str] = arg(
        None, "Export destination; None derives '<checkpoint>-<suffix>' from what is exported.", hot=True
    )
    exist_ok: bool = arg(False, "Overwrite an existing output_dir instead of failing.")
    quant_method: Optional[str] = arg(
        None,
        "Export quantization method (or one a plugin registers).",
        hot=True,
        choices=("gptq", "awq", "bnb"),
        registry="quantizers",
    )
    quant_n_samples: int = arg(256, "Calibration samples for gptq/awq.")
    max_length: int = arg(2048, "max_length of the calibration samples.")
    quant_batch_size: int = arg(1, "Quantization batch size.")
    group_size: int = arg(128, "Quantization group size.")
    push_to_hub: bool = arg(False, "Push the result to the hub.", hot=True)
    hub_model_id: Optional[str] = arg(None, "Hub model id to push to.")
    hub_private_repo: bool = arg(False, "Make the hub repository private.")
    commit_message: str = arg("update files", "Commit message of the push.")
