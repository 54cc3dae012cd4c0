"""A plugin file for the torchrun tests: at the end of training each rank writes what it trained."""

import json
import os

import swiftk


@swiftk.hookimpl
def train_end(args, trainer, output_dir):
    import torch

    weights = sum(float(p.detach().double().sum()) for p in trainer.model.parameters() if p.requires_grad)
    engine = trainer.model_wrapped
    stage = engine.zero_optimization_stage() if hasattr(engine, "zero_optimization_stage") else None
    fsdp_plugin = getattr(trainer.accelerator.state, "fsdp_plugin", None)
    report = {
        "wrapped": type(engine).__name__,
        "parallel_mode": str(trainer.args.parallel_mode),
        "trainable_sum": weights,  # under ZeRO-3 and FSDP this rank's shard only
        "torch_threads": torch.get_num_threads(),
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "zero_stage": stage,
        "fsdp_version": getattr(fsdp_plugin, "fsdp_version", None),
        "offload": _offload_device(engine),
    }
    with open(os.path.join(args.output_dir, f"rank{os.environ.get('RANK', '0')}.json"), "w") as f:
        json.dump(report, f)


def _offload_device(engine):
    """Where DeepSpeed keeps the optimizer state ("cpu" under the offload presets), None without DeepSpeed."""
    config = engine.zero_offload_optimizer() if hasattr(engine, "zero_offload_optimizer") else None
    device = getattr(config, "device", None)
    return getattr(device, "value", device)
