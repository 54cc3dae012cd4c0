"""``--train_type lora``: peft's LoRA with the page's lora_* arguments (DoRA, rsLoRA, init_weights)."""
from __future__ import annotations

import os
from typing import Any

from swiftk.errors import UsageError
from swiftk_peft.targets import resolve_target_modules

_DTYPES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32"}


def lora_config(model: Any, args: Any):
    from peft import LoraConfig, TaskType

    init = args.get("init_weights", True)
    if isinstance(init, str) and init.lower() in ("true", "false"):
        init = init.lower() == "true"
    task = TaskType.SEQ_CLS if args.get("task_type") == "seq_cls" else TaskType.CAUSAL_LM
    return LoraConfig(
        task_type=task, r=args.lora_rank, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
        bias=args.lora_bias, target_modules=resolve_target_modules(model, args),
        modules_to_save=list(args.get("modules_to_save") or []) or None,
        use_dora=bool(args.get("use_dora")), use_rslora=bool(args.get("use_rslora")), init_lora_weights=init)


def prepare_lora(model: Any, args: Any) -> Any:
    """Wrap ``model`` with fresh LoRA adapters (or continue from ``--adapters``/resume)."""
    from peft import get_peft_model

    adapters = args.get("adapters") or []
    if adapters:
        return load_adapter(model, adapters[0], args, trainable=True)
    try:
        model = get_peft_model(model, lora_config(model, args))
    except ValueError as exc:
        if "init_lora_weights" in str(exc) or "init" in str(exc).lower():
            raise UsageError(f"--init_weights {args.get('init_weights')}: {exc}") from None
        raise
    if args.get("lora_dtype"):
        import torch

        dtype = getattr(torch, _DTYPES[args.lora_dtype])
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(dtype)
    model.print_trainable_parameters()
    return model


def load_adapter(model: Any, adapter_dir: str, args: Any = None, trainable: bool = False) -> Any:
    """Load a saved LoRA adapter folder onto ``model``."""
    from peft import PeftModel

    if not os.path.isfile(os.path.join(adapter_dir, "adapter_config.json")):
        raise UsageError(f"--adapters: {adapter_dir} has no adapter_config.json (not a LoRA checkpoint)")
    return PeftModel.from_pretrained(model, adapter_dir, is_trainable=trainable)


def merge_adapter(model: Any) -> Any:
    """Fold the adapter into the base weights and return the plain model."""
    return model.merge_and_unload()
