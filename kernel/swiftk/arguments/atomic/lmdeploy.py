"""The page's "LMDeploy参数" (see lmdeploy's TurbomindEngineConfig)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.arguments.fields import arg

LMDEPLOY = "swift-plugin-lmdeploy"


@dataclass
class LmdeployArguments:
    """LMDeploy arguments (the seed page's "LMDeploy参数")."""

    SECTION = "LMDeploy arguments"
    SECTION_ZH = "LMDeploy参数"

    tp: int = arg(1, "LMDeploy tensor parallel degree.", hot=True, plugin=LMDEPLOY)
    session_len: Optional[int] = arg(None, "LMDeploy session length.", plugin=LMDEPLOY)
    cache_max_entry_count: float = arg(0.8, "LMDeploy fraction of GPU memory for the KV cache.", plugin=LMDEPLOY)
    quant_policy: int = arg(0, "LMDeploy KV-cache quantization (0, 4 or 8).", plugin=LMDEPLOY)
    vision_batch_size: int = arg(1, "LMDeploy vision encoder batch size.", plugin=LMDEPLOY)
