"""Counting a model's parameters, as every tuner reports them (shared tensors counted once)."""

from __future__ import annotations

from typing import Any


def parameter_counts(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` numbers of parameters of ``model``."""
    seen: set[int] = set()
    trainable = total = 0
    for param in model.parameters():
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
        trainable += param.numel() if param.requires_grad else 0
    return trainable, total
