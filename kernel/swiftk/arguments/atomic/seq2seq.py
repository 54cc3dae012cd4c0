"""The page's "Seq2SeqTrainer参数": transformers' Seq2SeqTrainingArguments fields the page lists,
with ms-swift's overridden defaults.  Every other field of Seq2SeqTrainingArguments is declared,
with transformers' defaults, in the generated :mod:`swiftk.arguments.atomic.hf_training`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, Union

from swiftk.arguments.fields import arg


@dataclass
class Seq2SeqTrainerArguments:
    """Seq2SeqTrainer arguments (the seed page's "Seq2SeqTrainer参数")."""

    SECTION = "Seq2SeqTrainer arguments"
    SECTION_ZH = "Seq2SeqTrainer参数"

    output_dir: Optional[str] = arg(
        None, "Output folder; None means output/<model name> (plus a version folder with add_version).", hot=True
    )
    gradient_checkpointing: bool = arg(True, "Use gradient checkpointing.", hot=True)
    deepspeed: Optional[Union[Dict[str, Any], str]] = arg(
        None,
        "DeepSpeed config: zero0, zero1, zero2, zero3, zero2_offload, zero3_offload, or a JSON "
        "file path or JSON string.",
        hot=True,
    )
    per_device_train_batch_size: int = arg(1, "Training batch size per device.", hot=True)
    per_device_eval_batch_size: int = arg(1, "Evaluation batch size per device.", hot=True)
    weight_decay: float = arg(0.1, "Weight decay.")
    learning_rate: Optional[float] = arg(
        None, "Learning rate; None means 1e-5 for full training and 1e-4 for LoRA and other tuners.", hot=True
    )
    lr_scheduler_type: str = arg("cosine", "Learning-rate scheduler type.")
    lr_scheduler_kwargs: Optional[Dict[str, Any]] = arg(None, "Extra scheduler arguments as JSON.")
    gradient_checkpointing_kwargs: Optional[Dict[str, Any]] = arg(
        None, "Arguments of torch.utils.checkpoint as JSON, e.g. '{\"use_reentrant\": false}'.", hot=True
    )
    report_to: List[str] = arg(["tensorboard"], "Integrations to report to, e.g. tensorboard wandb swanlab, or all.")
    logging_first_step: bool = arg(True, "Log the first step.")
    logging_steps: float = arg(5, "Log every N steps (a float below 1 is a fraction of the total).")
    predict_with_generate: bool = arg(False, "Evaluate by generating text.")
    metric_for_best_model: Optional[str] = arg(
        None,
        "Metric choosing the best checkpoint; None means loss, rouge-l with predict_with_generate, "
        "reward for GRPO, unset for PPO.",
    )
    greater_is_better: Optional[bool] = arg(
        None, "Whether a larger metric is better; None means False when the metric contains 'loss'."
    )
    num_train_epochs: float = arg(3, "Number of training epochs.", hot=True)
    gradient_accumulation_steps: int = arg(1, "Gradient accumulation steps.", hot=True)
    save_strategy: Literal["no", "steps", "epoch"] = arg("steps", "When to save checkpoints.", hot=True)
    save_steps: float = arg(500, "Save every N steps.", hot=True)
    eval_strategy: Optional[Literal["no", "steps", "epoch"]] = arg(
        None, "When to evaluate; None follows save_strategy.", hot=True
    )
    eval_steps: Optional[float] = arg(None, "Evaluate every N steps; None follows save_steps.", hot=True)
    save_total_limit: Optional[int] = arg(
        None, "Max checkpoints kept (older ones deleted); None, 0 or less keeps all.", hot=True
    )
    max_steps: int = arg(-1, "Max training steps; must be set for streaming datasets; -1 means by epochs.")
    warmup_ratio: float = arg(0.0, "Fraction of training steps used for warmup.", hot=True)
    save_on_each_node: bool = arg(False, "Save on every node in multi-node training.")
    save_only_model: bool = arg(False, "Save only the model weights, not optimizer/RNG state.")
    resume_from_checkpoint: Optional[str] = arg(
        None, "Checkpoint path to resume training from (weights, optimizer, RNG and step).", hot=True
    )
    ddp_backend: Optional[Literal["nccl", "gloo", "mpi", "ccl", "hccl", "cncl", "mccl"]] = arg(
        None, "Distributed backend; None picks one.", hot=True
    )
    ddp_find_unused_parameters: Optional[bool] = arg(None, "DDP find_unused_parameters.", hot=True)
    dataloader_num_workers: int = arg(0, "Number of dataloader worker processes.", hot=True)
    neftune_noise_alpha: float = arg(0.0, "NEFTune noise alpha; 0 disables it, typical values 5, 10, 15.", hot=True)
    average_tokens_across_devices: bool = arg(
        False, "All-reduce num_tokens_in_batch to average the loss over tokens of all devices."
    )
    max_grad_norm: float = arg(1.0, "Gradient clipping norm.")
    push_to_hub: bool = arg(False, "Push checkpoints to the hub.")
    hub_model_id: Optional[str] = arg(None, "Hub repository id to push to.")
    hub_private_repo: bool = arg(False, "Make the hub repository private.")
