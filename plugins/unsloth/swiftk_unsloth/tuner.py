"""LoRA through unsloth (``--tuner_backend unsloth``).

unsloth replaces the model's attention, MLP and loss with its Triton kernels; it needs a CUDA GPU.
The kernel has already loaded the model with transformers when the tuner runs, so this reloads it
through ``FastLanguageModel.from_pretrained`` (same folder, dtype, max length and 4-bit setting)
and drops the first copy, then adds LoRA with ``FastLanguageModel.get_peft_model`` and the page's
``lora_*`` arguments.  The result is a peft model: checkpoints are plain LoRA adapters.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from swiftk.api import UsageError

SUPPORTED = ("lora", "unsloth")


def check_available(args: Any) -> None:
    if args.get("train_type") not in SUPPORTED:
        raise UsageError(f"--tuner_backend unsloth supports --train_type lora, not {args.get('train_type')}")
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "--tuner_backend unsloth needs a CUDA GPU (unsloth's kernels are Triton/CUDA); "
            "use --tuner_backend peft on this machine"
        )
    if importlib.util.find_spec("unsloth") is None:
        raise UsageError("--tuner_backend unsloth needs the unsloth package: pip install unsloth")


def prepare_unsloth(model: Any, args: Any) -> Any:
    check_available(args)
    import torch
    from unsloth import FastLanguageModel  # noqa: F401  (imported before peft/transformers patches apply)

    from swiftk_peft.common import report_trainable
    from swiftk_peft.targets import linear_module_names

    info = getattr(model, "model_info", None)
    if info is None:
        raise UsageError("--tuner_backend unsloth: the model was not loaded by swiftk (no model_info)")
    if args.get("adapters"):
        from swiftk_peft.lora import load_adapter

        return load_adapter(model, args.adapters[0], args, trainable=True)
    dtype = next(model.parameters()).dtype
    targets = list(args.get("target_modules") or ["all-linear"])
    if "all-linear" in targets:
        targets = [t for t in targets if t != "all-linear"] + linear_module_names(model)
    meta = getattr(model, "model_meta", None)
    del model
    torch.cuda.empty_cache()
    fast, _ = FastLanguageModel.from_pretrained(
        model_name=info.model_dir,
        max_seq_length=int(args.get("max_length") or info.max_model_len or 2048),
        dtype=dtype,
        load_in_4bit=args.get("quant_method") == "bnb" and args.get("quant_bits") == 4,
    )
    fast.model_info, fast.model_meta = info, meta
    fast = FastLanguageModel.get_peft_model(
        fast,
        r=args.lora_rank,
        target_modules=sorted(set(targets)),
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        bias=args.lora_bias,
        use_rslora=bool(args.get("use_rslora")),
        use_gradient_checkpointing="unsloth" if args.get("gradient_checkpointing") else False,
        random_state=int(args.get("seed") or 42),
        modules_to_save=list(args.get("modules_to_save") or []) or None,
    )
    report_trainable(fast, "unsloth lora")
    return fast
