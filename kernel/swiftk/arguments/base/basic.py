"""The page's top-level "基本参数"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional

from swiftk.arguments.fields import arg

TRAIN_TYPES = ("lora", "full", "longlora", "adalora", "llamapro", "adapter", "vera", "boft", "fourierft", "reft")


@dataclass
class BasicArguments:
    """Basic arguments (the seed page's "基本参数")."""

    SECTION = "Basic arguments"
    SECTION_ZH = "基本参数"

    tuner_backend: Literal["peft", "unsloth"] = arg(
        "peft", "Tuner implementation: peft, or unsloth (needs swift-plugin-unsloth).", hot=True
    )
    train_type: str = arg(
        "lora",
        "Training type: full fine-tuning or the tuner to attach (or one a plugin registers).",
        hot=True,
        choices=("lora", "full", "longlora", "adalora", "llamapro", "adapter", "vera", "boft", "fourierft", "reft"),
        registry="tuners",
    )
    adapters: List[str] = arg(list, "Ids or paths of adapters to load.", hot=True)
    seed: int = arg(42, "Global random seed.")
    model_kwargs: Optional[Dict[str, Any]] = arg(
        None, "Model-specific extra parameters as JSON, e.g. '{\"fps_max_frames\": 12}'; logged at start."
    )
    load_args: Optional[bool] = arg(
        None,
        "Read args.json next to --resume_from_checkpoint/--model/--adapters and fill the basic "
        "arguments not given; default True for inference and export, False for training.",
    )
    load_data_args: bool = arg(False, "With load_args, also read the data arguments from args.json.")
    use_hf: bool = arg(False, "Download models/datasets from and push to HuggingFace instead of ModelScope.")
    hub_token: Optional[str] = arg(None, "Hub access token (ModelScope or HuggingFace).")
    custom_register_path: List[str] = arg(
        list, "Paths of .py files that register custom models, templates and datasets."
    )
