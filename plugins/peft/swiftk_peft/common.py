"""Helpers shared by the tuners of this plugin (and usable by other tuner plugins).

* :func:`report_trainable` prints the one line every tuner prints after wrapping a model
  (``trainable params: N || all params: M || trainable%: P``), which the tuner contract suite
  (:mod:`swiftk.testing.tuners`) reads back.
* :func:`decoder_layers` finds the model's list of transformer blocks.
* Native (non-peft) checkpoints: :func:`attach_native_save` makes ``model.save_pretrained`` (what the
  Trainer calls for every checkpoint) write only the tuner's weights, as ``model.safetensors`` (so that
  ``--resume_from_checkpoint`` restores them through the Trainer's own loader) beside a
  ``swiftk_tuner.json`` naming the ``train_type`` and its settings; :func:`load_native_weights` reads
  them back.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Optional

from swiftk.api import UsageError

TUNER_CONFIG = "swiftk_tuner.json"
NATIVE_WEIGHTS = "model.safetensors"


def count_parameters(model: Any) -> tuple[int, int]:
    """(trainable, all) parameter counts; a tensor shared by two names (tied embeddings) counts once."""
    from swiftk.api import parameter_counts

    return parameter_counts(model)


def report_trainable(model: Any, what: str = "") -> int:
    """Print the trainable-parameter line; returns the trainable count."""
    trainable, total = count_parameters(model)
    pct = 100 * trainable / total if total else 0.0
    prefix = f"[swiftk] {what}: " if what else "[swiftk] "
    print(f"{prefix}trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {pct:.4f}", flush=True)
    return trainable


def decoder_layers(model: Any) -> tuple[str, Any]:
    """``(dotted path, nn.ModuleList)`` of the transformer blocks of a causal LM (the first long ModuleList
    whose blocks have attention)."""
    import torch.nn as nn

    best: Optional[tuple[str, Any]] = None
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            first = module[0]
            if any(hasattr(first, a) for a in ("self_attn", "attention", "attn", "self_attention")):
                if best is None or len(module) > len(best[1]):
                    best = (name, module)
                if "vision" not in name and "visual" not in name:
                    return name, module
    if best is None:
        raise UsageError(
            f"{type(model).__name__}: no list of transformer blocks found (a ModuleList of layers "
            f"with self_attn); this tuner supports decoder-only transformer models"
        )
    return best


# --- native checkpoints ------------------------------------------------------------------------


def attach_native_save(model: Any, train_type: str, config: dict, keep: Callable[[str], bool]) -> None:
    """Make ``model.save_pretrained`` write only the tensors whose state-dict names ``keep`` accepts."""

    def save_pretrained(
        save_directory: str, state_dict: Optional[dict] = None, is_main_process: bool = True, **_: Any
    ) -> None:
        if is_main_process:
            save_native(model, save_directory, train_type, config, keep, state_dict)

    model.save_pretrained = save_pretrained
    model.swiftk_tuner = {"train_type": train_type, "config": config}


def detach_native_save(model: Any) -> Any:
    """Undo :func:`attach_native_save` (the class's ``save_pretrained`` serves again)."""
    model.__dict__.pop("save_pretrained", None)
    model.__dict__.pop("swiftk_tuner", None)
    return model


def save_native(
    model: Any,
    folder: str,
    train_type: str,
    config: dict,
    keep: Callable[[str], bool],
    state_dict: Optional[dict] = None,
) -> None:
    from safetensors.torch import save_file

    from swiftk.api import atomic_write_text

    state = state_dict if state_dict is not None else model.state_dict()
    tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in state.items() if keep(k)}
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, NATIVE_WEIGHTS), metadata={"format": "pt"})
    atomic_write_text(
        os.path.join(folder, TUNER_CONFIG), json.dumps({"train_type": train_type, "config": config}, indent=2) + "\n"
    )


def read_tuner_config(folder: str, train_type: Optional[str] = None) -> dict:
    """The ``config`` a native checkpoint was saved with (a clear error if ``folder`` is not one)."""
    path = os.path.join(folder, TUNER_CONFIG)
    if not os.path.isfile(path):
        what = f"a {train_type} checkpoint" if train_type else "a swiftk tuner checkpoint"
        raise UsageError(f"--adapters: {folder} is not {what} (no {TUNER_CONFIG})")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if train_type and data.get("train_type") != train_type:
        raise UsageError(f"--adapters: {folder} holds a {data.get('train_type')} checkpoint, not {train_type}")
    return data.get("config") or {}


def load_native_weights(model: Any, folder: str) -> Any:
    """Load a native checkpoint's tensors into ``model`` (which already has the tuner's modules)."""
    from safetensors.torch import load_file

    path = os.path.join(folder, NATIVE_WEIGHTS)
    if not os.path.isfile(path):
        raise UsageError(f"--adapters: {folder} has no {NATIVE_WEIGHTS}")
    state = load_file(path)
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys:
        raise UsageError(
            f"--adapters: {folder} does not fit this model: {len(result.unexpected_keys)} saved "
            f"tensors have no place in it (e.g. {result.unexpected_keys[0]}); was it trained on "
            f"another base model?"
        )
    return model


def freeze_all(model: Any) -> None:
    for param in model.parameters():
        param.requires_grad_(False)
