"""``--optimizer lorap`` (chosen automatically by ``--lorap_lr_ratio``): LoRA+.

peft's ``create_loraplus_optimizer``: the LoRA B matrices learn ``lorap_lr_ratio`` times faster than
the A matrices; the optimizer class and its settings are the Trainer's own (``--optim``, betas,
epsilon, weight decay).  The learning-rate schedule is the Trainer's.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError


def create_lorap_optimizer(args: Any, model: Any, dataset: Any = None) -> tuple[Any, Any]:
    from peft.optimizers import create_loraplus_optimizer
    from transformers import Trainer

    ratio = args.get("lorap_lr_ratio")
    if not ratio:
        raise UsageError("--optimizer lorap needs --lorap_lr_ratio (LoRA+'s learning-rate ratio, 10-16 suggested)")
    if not hasattr(model, "peft_config"):
        raise UsageError(
            "--lorap_lr_ratio (LoRA+) works with LoRA-type tuners (--train_type lora); this model has no LoRA adapter"
        )
    training_args = _training_args(args)
    optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(training_args, model)
    optimizer_kwargs = {k: v for k, v in optimizer_kwargs.items() if k != "lr"}
    optimizer = create_loraplus_optimizer(
        model=model,
        optimizer_cls=optimizer_cls,
        lr=float(args.learning_rate),
        loraplus_lr_ratio=float(ratio),
        weight_decay=float(args.get("weight_decay") or 0.0),
        **optimizer_kwargs,
    )
    return optimizer, None


def _training_args(args: Any) -> Any:
    """Enough of transformers' TrainingArguments to pick the optimizer class the run would use."""
    from types import SimpleNamespace

    return SimpleNamespace(
        optim=args.get("optim") or "adamw_torch",
        optim_args=args.get("optim_args"),
        learning_rate=float(args.learning_rate),
        weight_decay=float(args.get("weight_decay") or 0.0),
        adam_beta1=float(args.get("adam_beta1") or 0.9),
        adam_beta2=float(args.get("adam_beta2") or 0.999),
        adam_epsilon=float(args.get("adam_epsilon") or 1e-8),
        optim_target_modules=None,
        lr_scheduler_type=args.get("lr_scheduler_type"),
        fsdp=None,
        fsdp_config=None,
    )
