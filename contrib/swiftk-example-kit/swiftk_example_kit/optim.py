"""``--optimizer kit_sgd``: SGD with momentum over the trainable parameters, and a linear schedule
(``--kit_warmup_steps`` of warm-up, then down to 0 at the last step).

Registered as ``factory(args, model, dataset) -> (optimizer, lr_scheduler)`` (docs/plugins.md,
register_optimizers).  ``--learning_rate`` and ``--weight_decay`` apply; biases and norm weights get
no weight decay, as the Trainer's own optimizers do.
"""

from __future__ import annotations

import math
from typing import Any


def training_steps(args: Any, dataset: Any) -> int:
    """The run's number of optimizer steps: ``--max_steps``, else epochs x steps per epoch."""
    if args.max_steps and args.max_steps > 0:
        return int(args.max_steps)
    import torch.distributed as dist

    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
    per_step = max(1, args.per_device_train_batch_size * args.gradient_accumulation_steps * world)
    rows = len(dataset) if dataset is not None and hasattr(dataset, "__len__") else 0
    return max(1, math.ceil(rows / per_step) * math.ceil(args.num_train_epochs))


def create_sgd(args: Any, model: Any, dataset: Any):
    import torch

    from swiftk_example_kit.arguments import KitArguments

    kit = args.group(KitArguments)
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or name.endswith(".bias") else decay).append(param)
    if not decay and not no_decay:
        raise ValueError("kit_sgd: the model has no trainable parameters")
    groups = [
        {"params": decay, "weight_decay": args.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.SGD([g for g in groups if g["params"]], lr=args.learning_rate, momentum=kit.kit_momentum)
    total = training_steps(args, dataset)
    warmup = max(0, int(kit.kit_warmup_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
