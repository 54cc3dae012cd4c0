"""The page's "训练参数" (swift sft / pt, and the base of swift rlhf)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal, Optional

from swiftk.arguments.fields import arg


@dataclass
class TrainArguments:
    """Training arguments (the seed page's "训练参数")."""

    SECTION = "Training arguments"
    SECTION_ZH = "训练参数"

    add_version: bool = arg(
        True, "Add a 'v<N>-<timestamp>' folder under output_dir so runs never overwrite each other."
    )
    resume_only_model: bool = arg(False, "With resume_from_checkpoint, resume only the model weights.")
    check_model: bool = arg(True, "Check local model files for corruption or changes (set False when offline).")
    create_checkpoint_symlink: bool = arg(
        False, "Also create the symlinks <output_dir>/best and <output_dir>/last.", hot=True
    )
    external_plugins: List[str] = arg(list, "Plugin .py files to load and register.")
    loss_type: Optional[str] = arg(
        None, "Loss type registered by a plugin; None uses the model's own loss.", registry="losses"
    )
    packing: bool = arg(False, "Pack sequences.")
    lazy_tokenize: Optional[bool] = arg(
        None, "Tokenize lazily during training; None means False for LLMs and True for multimodal models.", hot=True
    )
    acc_strategy: Literal["token", "seq"] = arg("token", "Accuracy computed per token or per sequence.")
    max_new_tokens: int = arg(64, "Max new tokens when predict_with_generate is set.")
    temperature: float = arg(0.0, "Temperature when predict_with_generate is set.")
    optimizer: Optional[str] = arg(None, "Name of a custom optimizer registered by a plugin.", registry="optimizers")
    metric: Optional[str] = arg(
        None,
        "Name of a custom metric registered by a plugin; None means acc, or nlg with predict_with_generate.",
        choices=("acc", "nlg"),
        registry="metrics",
    )
