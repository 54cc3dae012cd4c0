"""The LISA callback: every ``--lisa_step_interval`` steps, ``--lisa_activated_layers`` transformer
blocks drawn at random train and every other block is frozen.

As LMFlow's and ms-swift's LISA: the parameters outside the blocks (embedding, final norm, head) keep
training; the optimizer holds every parameter and skips those without a gradient.  The draw is
seeded from ``--seed`` and the step, so a resumed run draws the same blocks.
"""

from __future__ import annotations

import random
from typing import Any

from transformers import TrainerCallback

from swiftk.api import UsageError


def _blocks(model: Any) -> Any:
    import torch.nn as nn

    model = getattr(model, "module", model)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and "vision" not in name and "visual" not in name:
            if any(hasattr(module[0], a) for a in ("self_attn", "attention", "attn", "self_attention")):
                return module
    raise UsageError(f"--lisa_activated_layers: {type(model).__name__} has no list of transformer blocks")


class LisaCallback(TrainerCallback):
    def __init__(self, args: Any):
        self.n_layers = int(args.get("lisa_activated_layers") or 0)
        self.interval = max(1, int(args.get("lisa_step_interval") or 20))
        self.seed = int(args.get("seed") or 0)
        self.active: list[int] = []
        self._reported = False

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        blocks = _blocks(model)
        if self.n_layers > len(blocks):
            raise UsageError(f"--lisa_activated_layers {self.n_layers}: the model has only {len(blocks)} layers")
        self.switch(model, state.global_step)

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if state.global_step > 0 and state.global_step % self.interval == 0:
            self.switch(model, state.global_step)

    def switch(self, model: Any, step: int) -> list[int]:
        blocks = _blocks(model)
        draw = random.Random(self.seed * 1_000_003 + step // self.interval)
        self.active = sorted(draw.sample(range(len(blocks)), self.n_layers))
        for i, block in enumerate(blocks):
            for param in block.parameters():
                param.requires_grad_(i in self.active)
        if not self._reported:
            self._reported = True
            from swiftk.api import parameter_counts

            trainable, total = parameter_counts(model)
            print(
                f"[swiftk] lisa: trainable params: {trainable:,d} || all params: {total:,d} || "
                f"trainable%: {100 * trainable / max(total, 1):.4f} || active layers {self.active} of "
                f"{len(blocks)}, redrawn every {self.interval} steps",
                flush=True,
            )
        return self.active
