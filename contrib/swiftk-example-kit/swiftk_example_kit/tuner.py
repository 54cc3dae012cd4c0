"""``--train_type kit_bias``: BitFit (Ben Zaken et al., 2021), training only the bias terms.

``prepare`` freezes every weight but the biases (and, with ``--kit_bias_norms true``, the
normalisation weights); the model itself is not wrapped, so merging is the model as it is.
Checkpoints hold only the trained tensors: ``model.safetensors`` (what the Trainer writes through
``model.save_pretrained``, which ``prepare`` narrows to the trained tensors, so
``--resume_from_checkpoint`` still restores them) beside ``swiftk_tuner.json`` naming the train type.
"""

from __future__ import annotations

import json
import os
from typing import Any

from swiftk.api import UsageError, parameter_counts

TRAIN_TYPE = "kit_bias"
TUNER_CONFIG = "swiftk_tuner.json"
WEIGHTS = "model.safetensors"


def _is_norm(module: Any) -> bool:
    import torch.nn as nn

    return isinstance(module, (nn.LayerNorm, nn.GroupNorm)) or "norm" in type(module).__name__.lower()


def trained_names(model: Any, norms: bool = False) -> list[str]:
    """The parameter names kit_bias trains: every ``*.bias``, plus norm weights when ``norms``."""
    names = [name for name, _ in model.named_parameters() if name.rsplit(".", 1)[-1] == "bias"]
    if norms:
        for module_name, module in model.named_modules():
            if _is_norm(module) and getattr(module, "weight", None) is not None:
                names.append(f"{module_name}.weight" if module_name else "weight")
    return sorted(set(names))


def _settings(args: Any) -> dict:
    from swiftk_example_kit.arguments import KitArguments

    return {"train_type": TRAIN_TYPE, "bias_norms": bool(args.group(KitArguments).kit_bias_norms)}


def _narrow_save(model: Any, names: list[str], settings: dict) -> None:
    """Make ``model.save_pretrained`` (every checkpoint the Trainer writes) save only ``names``."""

    def save_pretrained(save_directory, *args, state_dict=None, **kwargs):
        from safetensors.torch import save_file

        os.makedirs(save_directory, exist_ok=True)
        state = state_dict if state_dict is not None else model.state_dict()
        tensors = {n: state[n].detach().cpu().contiguous() for n in names if n in state}
        save_file(tensors, os.path.join(save_directory, WEIGHTS), metadata={"format": "pt"})
        with open(os.path.join(save_directory, TUNER_CONFIG), "w", encoding="utf-8") as f:
            json.dump({**settings, "parameters": len(tensors)}, f, indent=2)
        # no config.json: a folder with one is a model, not an adapter checkpoint (--model, --ref_model)

    save_pretrained.original = model.save_pretrained
    model.save_pretrained = save_pretrained


def _report(model: Any) -> int:
    trainable, total = parameter_counts(model)
    print(
        f"[kit_bias] trainable params: {trainable:,d} || all params: {total:,d} || "
        f"trainable%: {100 * trainable / max(total, 1):.4f}",
        flush=True,
    )
    return trainable


def prepare(model: Any, args: Any) -> Any:
    """Freeze everything but the biases (and norms with ``--kit_bias_norms true``)."""
    settings = _settings(args)
    names = trained_names(model, settings["bias_norms"])
    if not names:
        raise UsageError(
            f"--train_type kit_bias: {type(model).__name__} has no bias terms; "
            f"add --kit_bias_norms true to train its norm weights, or use another --train_type"
        )
    for adapter_dir in args.get("adapters") or []:  # training on from a kit_bias checkpoint
        load(model, adapter_dir, args)
    wanted = set(names)
    for name, param in model.named_parameters():
        param.requires_grad_(name in wanted)
    _narrow_save(model, names, settings)
    _report(model)
    return model


def load(model: Any, adapter_dir: str, args: Any = None) -> Any:
    """Put a kit_bias checkpoint's tensors into ``model`` (the base model it was trained from)."""
    import torch
    from safetensors.torch import load_file

    path = os.path.join(adapter_dir, WEIGHTS)
    if not os.path.isfile(path):
        raise UsageError(f"--adapters {adapter_dir}: no {WEIGHTS}, so it is no kit_bias checkpoint")
    saved = load_file(path)
    params = dict(model.named_parameters())
    unknown = sorted(set(saved) - set(params))
    if unknown:
        raise UsageError(
            f"--adapters {adapter_dir}: the checkpoint holds tensors the model lacks ({', '.join(unknown[:3])}); "
            f"was it trained on another base model?"
        )
    with torch.no_grad():
        for name, tensor in saved.items():
            target = params[name]
            if target.shape != tensor.shape:
                raise UsageError(
                    f"--adapters {adapter_dir}: {name} has shape {tuple(tensor.shape)}, the model's "
                    f"{tuple(target.shape)}"
                )
            target.copy_(tensor.to(device=target.device, dtype=target.dtype))
    return model


def merge(model: Any) -> Any:
    """The trained biases are the model's own parameters: the merged model is the model, with the
    narrowed ``save_pretrained`` undone so that it saves whole."""
    if getattr(model.save_pretrained, "original", None) is not None:
        del model.save_pretrained  # the instance attribute: the class's own method again
    return model
