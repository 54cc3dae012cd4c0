"""``--train_type llamapro``: LLaMA-Pro block expansion.

The model's ``L`` transformer blocks are split into ``--llamapro_num_groups`` groups of equal size;
after each group, ``llamapro_num_new_blocks / num_groups`` copies of the group's last block are
inserted with their attention output and MLP output projections zeroed, so each new block starts as
the identity and the expanded model computes exactly what the original did.  Only the new blocks
train.  Checkpoints hold the new blocks (``model.safetensors`` + ``swiftk_tuner.json``); merging is
the expanded model itself, saved with ``num_hidden_layers`` = ``L + num_new_blocks``.
"""

from __future__ import annotations

import copy
from typing import Any

from swiftk.api import UsageError
from swiftk_peft.common import (
    attach_native_save,
    decoder_layers,
    detach_native_save,
    freeze_all,
    load_native_weights,
    read_tuner_config,
    report_trainable,
)

_OUT_PROJ = ("o_proj", "out_proj", "dense", "wo", "c_proj")
_MLP_OUT = ("down_proj", "fc2", "w2", "dense_4h_to_h", "c_proj")


def _zero_output_projections(block: Any) -> None:
    import torch

    zeroed = []
    for sub_name in ("self_attn", "attention", "attn", "self_attention"):
        sub = getattr(block, sub_name, None)
        if sub is not None:
            for name in _OUT_PROJ:
                if hasattr(sub, name):
                    zeroed.append(getattr(sub, name))
                    break
            break
    for sub_name in ("mlp", "feed_forward", "ffn"):
        sub = getattr(block, sub_name, None)
        if sub is not None:
            for name in _MLP_OUT:
                if hasattr(sub, name):
                    zeroed.append(getattr(sub, name))
                    break
            break
    if len(zeroed) != 2:
        raise UsageError(
            f"--train_type llamapro: cannot find the attention and MLP output projections of "
            f"{type(block).__name__} to make the new blocks start as the identity"
        )
    with torch.no_grad():
        for linear in zeroed:
            linear.weight.zero_()
            if getattr(linear, "bias", None) is not None:
                linear.bias.zero_()


def plan(num_layers: int, num_new_blocks: int, num_groups: int) -> list[int]:
    """Positions (in the expanded list) of the new blocks."""
    if num_groups < 1 or num_new_blocks < 1:
        raise UsageError("--llamapro_num_new_blocks and --llamapro_num_groups must be positive integers")
    if num_layers % num_groups:
        raise UsageError(f"--llamapro_num_groups {num_groups} must divide the model's {num_layers} layers")
    if num_new_blocks % num_groups:
        raise UsageError(
            f"--llamapro_num_new_blocks {num_new_blocks} must be a multiple of --llamapro_num_groups "
            f"{num_groups} (each group gets the same number of new blocks)"
        )
    stride, per_group = num_layers // num_groups, num_new_blocks // num_groups
    positions, added = [], 0
    for idx in range(num_layers):
        if (idx + 1) % stride == 0:
            for _ in range(per_group):
                positions.append(idx + 1 + added)
                added += 1
    return positions


def expand(model: Any, num_new_blocks: int, num_groups: int) -> tuple[Any, list[int], str]:
    import torch.nn as nn

    path, layers = decoder_layers(model)
    n = len(layers)
    positions = plan(n, num_new_blocks, num_groups)
    stride, per_group = n // num_groups, num_new_blocks // num_groups
    new_list = []
    for idx, block in enumerate(layers):
        new_list.append(block)
        if (idx + 1) % stride == 0:
            for _ in range(per_group):
                clone = copy.deepcopy(block)
                _zero_output_projections(clone)
                new_list.append(clone)
    for i, block in enumerate(new_list):  # the KV cache is indexed by layer_idx
        for sub in block.modules():
            if hasattr(sub, "layer_idx"):
                sub.layer_idx = i
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, nn.ModuleList(new_list))
    _update_config(model.config.get_text_config(), n, positions)
    if model.config.get_text_config() is not model.config:
        _update_config(model.config, n, positions, only_if_present=True)
    return model, positions, path


def _update_config(config: Any, n: int, positions: list[int], only_if_present: bool = False) -> None:
    if only_if_present and getattr(config, "num_hidden_layers", None) != n:
        return
    types = getattr(config, "layer_types", None)
    if isinstance(types, list) and len(types) == n:
        new_types = list(types)
        for pos in positions:
            new_types.insert(pos, new_types[pos - 1])
        config.layer_types = new_types
    config.num_hidden_layers = n + len(positions)


def _apply(model: Any, config: dict) -> tuple[Any, list[int], str]:
    model, positions, path = expand(model, config["num_new_blocks"], config["num_groups"])
    prefixes = tuple(f"{path}.{p}." for p in positions)
    attach_native_save(
        model, "llamapro", dict(config, positions=positions, layers_path=path), lambda name: name.startswith(prefixes)
    )
    return model, positions, path


def prepare_llamapro(model: Any, args: Any) -> Any:
    if args.get("adapters"):
        model = load_llamapro(model, args.adapters[0], args)
        positions, path = model.swiftk_tuner["config"]["positions"], model.swiftk_tuner["config"]["layers_path"]
    else:
        new_blocks = int(args.get("llamapro_num_new_blocks") or 4)
        groups = int(args.get("llamapro_num_groups") or new_blocks)
        model, positions, path = _apply(model, {"num_new_blocks": new_blocks, "num_groups": groups})
    freeze_all(model)
    layers = model.get_submodule(path)
    for pos in positions:
        for param in layers[pos].parameters():
            param.requires_grad_(True)
    report_trainable(model, "llamapro")
    return model


def load_llamapro(model: Any, adapter_dir: str, args: Any = None) -> Any:
    config = read_tuner_config(adapter_dir, "llamapro")
    model, _, _ = _apply(model, {"num_new_blocks": config["num_new_blocks"], "num_groups": config["num_groups"]})
    return load_native_weights(model, adapter_dir)


def merge_llamapro(model: Any) -> Any:
    """The expanded model is already a plain model: it only stops saving just the new blocks."""
    return detach_native_save(model)
