"""Arguments swift-plugin-infer adds to ``swiftk infer`` and ``swiftk deploy``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from swiftk.arguments.fields import arg


@dataclass
class CkptDirArguments:
    """ms-swift 2.x's ``--ckpt_dir``, still used in scripts: a training checkpoint folder."""

    SECTION = "Checkpoint"
    SECTION_ZH = "检查点"

    ckpt_dir: Optional[str] = arg(
        None, "A checkpoint folder: an adapter (read as --adapters) or full weights (read as --model); its "
              "args.json fills the basic arguments (--load_args).")
