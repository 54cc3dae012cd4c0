"""A plugin file for the torchrun tests: at the end of training each rank writes what it trained."""

import json
import os

import swiftk


@swiftk.hookimpl
def train_end(args, trainer, output_dir):
    import torch

    weights = sum(float(p.detach().double().sum()) for p in trainer.model.parameters() if p.requires_grad)
    report = {
        "wrapped": type(trainer.model_wrapped).__name__,
        "parallel_mode": str(trainer.args.parallel_mode),
        "trainable_sum": weights,
        "torch_threads": torch.get_num_threads(),
    }
    with open(os.path.join(args.output_dir, f"rank{os.environ.get('RANK', '0')}.json"), "w") as f:
        json.dump(report, f)
