"""The page's "合并参数"."""

from __future__ import annotations

from dataclasses import dataclass

from swiftk.arguments.fields import arg


@dataclass
class MergeArguments:
    """Merge arguments (the seed page's "合并参数")."""

    SECTION = "Merge arguments"
    SECTION_ZH = "合并参数"

    merge_lora: bool = arg(False, "Merge the LoRA (also llamapro, longlora) into the base weights.", hot=True)
    safe_serialization: bool = arg(True, "Save as safetensors.")
    max_shard_size: str = arg("5GB", "Max size of one saved weight file.")
