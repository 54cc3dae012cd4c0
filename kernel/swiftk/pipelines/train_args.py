"""Our training arguments → ``transformers.Seq2SeqTrainingArguments`` (or a trl config class).

The page's Seq2SeqTrainer arguments are transformers' own fields with ms-swift's defaults, so
most pass through by name.  The few that transformers renamed or that need the run's context
are translated here, once, for every trainer.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from swiftk.errors import UsageError

#: ``--deepspeed zero2`` etc.: ZeRO configs as ms-swift ships them, "auto" values filled by the Trainer.
DEEPSPEED_PRESETS: dict[str, dict[str, Any]] = {
    "zero0": {"zero_optimization": {"stage": 0}},
    "zero1": {"zero_optimization": {"stage": 1}},
    "zero2": {"zero_optimization": {"stage": 2, "overlap_comm": False, "contiguous_gradients": True}},
    "zero3": {
        "zero_optimization": {
            "stage": 3,
            "overlap_comm": False,
            "contiguous_gradients": True,
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    },
    "zero2_offload": {"zero_optimization": {"stage": 2, "offload_optimizer": {"device": "cpu", "pin_memory": True}}},
    "zero3_offload": {
        "zero_optimization": {
            "stage": 3,
            "offload_optimizer": {"device": "cpu", "pin_memory": True},
            "offload_param": {"device": "cpu", "pin_memory": True},
            "stage3_gather_16bit_weights_on_model_save": True,
        }
    },
}
_DS_COMMON = {
    "train_micro_batch_size_per_gpu": "auto",
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    "train_batch_size": "auto",
    "bf16": {"enabled": "auto"},
    "fp16": {"enabled": "auto"},
}


def deepspeed_config(value: Any) -> Any:
    """A preset name becomes its config dict; a path or dict passes through."""
    if isinstance(value, str) and value in DEEPSPEED_PRESETS:
        return {**_DS_COMMON, **DEEPSPEED_PRESETS[value]}
    if isinstance(value, str) and not value.lstrip().startswith("{") and not os.path.isfile(value):
        raise UsageError(f"--deepspeed: '{value}' is neither a preset ({', '.join(DEEPSPEED_PRESETS)}) nor a file")
    return value


def check_fsdp_device(value: Any) -> None:
    """accelerate runs FSDP only on accelerators: on CPU it drops ``--fsdp`` without a word and trains plain DDP,
    every rank holding the whole model. Refuse it there, naming what shards on CPU."""
    import torch

    accelerator = getattr(torch, "accelerator", None)
    if torch.cuda.is_available() or (accelerator is not None and accelerator.is_available()):
        return
    raise UsageError(
        f"--fsdp {value}: FSDP needs GPUs (accelerate runs it on accelerators only; on CPU it would silently train "
        f"plain DDP); on CPU shard with --deepspeed zero3 instead"
    )


def to_training_arguments(args: Any, cls: Optional[type] = None, *, has_eval: bool, **overrides: Any) -> Any:
    """Build ``cls`` (default ``Seq2SeqTrainingArguments``) from our resolved arguments."""
    if cls is None:
        from transformers import Seq2SeqTrainingArguments as cls  # noqa: N813

    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    values = {name: args.get(name) for name in fields if name in args and args.get(name) is not None}
    # transformers 5 folded warmup_ratio into a fractional warmup_steps
    if "warmup_ratio" not in fields and args.get("warmup_ratio") and not args.get("warmup_steps"):
        values["warmup_steps"] = float(args.warmup_ratio)
    if "activation_checkpointing" in fields and "gradient_checkpointing" in values:
        values["activation_checkpointing"] = values.pop("gradient_checkpointing")
        if args.get("gradient_checkpointing_kwargs") and "activation_checkpointing_kwargs" in fields:
            values["activation_checkpointing_kwargs"] = values.pop("gradient_checkpointing_kwargs", None)
    if not values.get("neftune_noise_alpha"):
        # the page's default 0 means off; transformers turns NEFTune on for any value but None (a zero-noise hook
        # that still draws random numbers, shifting every dropout mask after it)
        values.pop("neftune_noise_alpha", None)
    if args.get("deepspeed"):
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            raise UsageError(
                f"--deepspeed {args.deepspeed} needs the deepspeed package, which is not installed: "
                f"pip install deepspeed"
            )
        values["deepspeed"] = deepspeed_config(args.deepspeed)
    else:
        skip_deepspeed_import()
    if args.get("fsdp"):
        check_fsdp_device(args.fsdp)
    if not has_eval:
        values["eval_strategy"] = "no"
        values.pop("eval_steps", None)
        values["load_best_model_at_end"] = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch

        if not values.get("ddp_backend"):
            values["ddp_backend"] = "nccl" if torch.cuda.is_available() else "gloo"
        if not torch.cuda.is_available() and "use_cpu" in fields:
            # without it transformers 5 leaves a CPU torchrun job NOT_PARALLEL: every rank trains alone on all the data
            values["use_cpu"] = True
    else:
        values.pop("ddp_backend", None)  # only meaningful under torchrun (stack.md)
    report_to = values.get("report_to")
    if isinstance(report_to, list) and "none" in report_to:
        values["report_to"] = "none"
    values.update(remove_unused_columns=False, label_names=["labels"])
    values.update(overrides)
    values = {k: v for k, v in values.items() if k in fields}
    hand_tokens_to_environment(values)
    return cls(**values)


def skip_deepspeed_import() -> None:
    """Keep a run without --deepspeed from importing deepspeed (about 1 s of CPU, mlflow with it).

    accelerate's ``extract_model_from_parallel`` (called by every Trainer's ``__init__``) imports
    ``DeepSpeedEngine`` whenever the package is installed, only to test ``isinstance``; without --deepspeed no
    model is one, so the check there is answered without the import.
    """
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() in ("1", "true", "yes"):
        return
    import accelerate.utils.other as accelerate_other

    accelerate_other.is_deepspeed_available = lambda: False


def hand_tokens_to_environment(values: dict) -> None:
    """Keep tokens out of the training arguments (the Trainer pickles them into every checkpoint's
    ``training_args.bin``): ``hub_token`` reaches the hub client through ``HF_TOKEN`` in this
    process's environment instead, which nothing writes to disk."""
    token = values.pop("hub_token", None)
    if token:
        os.environ["HF_TOKEN"] = token
