"""GRPO's argument checks (``TrainerSpec.prepare_args``) and trl ``GRPOConfig`` values (``config_kwargs``).

Imports nothing heavy: these run before the model loads, so a wrong flag costs no time.

The page's GRPO parameters are ``GRPOConfig`` fields of the same name (``num_generations``,
``max_completion_length``, ``beta``, ``epsilon``, ``num_iterations``, ``reward_weights``,
``temperature``, ``top_k``, ``top_p``, ``repetition_penalty``, ``use_vllm``,
``vllm_gpu_memory_utilization``, ``ds3_gather_for_generation``).  Set here, where trl's defaults
differ from ms-swift's: the ``grpo`` loss (each completion's mean token loss, averaged) and advantages
scaled by their group's standard deviation; ``vllm_max_model_len`` is trl's ``vllm_max_model_length``;
vLLM runs colocated with training; completions are logged by us (``completions.jsonl``) unless
wandb is among ``--report_to``.  Later ms-swift's GRPO options (``--loss_type``, ``--epsilon_high``,
``--dynamic_sample``, ...) are checked and mapped in :mod:`swiftk_grpo.later_args`.
"""

from __future__ import annotations

import math
import os
from typing import Any

from swiftk.api import MissingPluginError, UsageError
from swiftk_grpo.later_args import check_later_options, later_config, server_mode
from swiftk_rlhf.args import refuse_sft_only_arguments


#: vLLM arguments of the page that trl's colocated engine does not take
_SET_BY_TRL = ("vllm_max_num_seqs", "vllm_enforce_eager", "vllm_enable_prefix_caching", "vllm_limit_mm_per_prompt")


def world_size() -> int:
    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def needs_reference(args: Any) -> bool:
    """``--beta 0`` drops the KL term, and with it the reference model."""
    return float(args.get("beta") or 0.0) != 0.0


class _GRPOLossTypeHidden:
    """``args`` without ``--loss_type``, which GRPO reads as its own (for the sft-only checks)."""

    def __init__(self, args: Any):
        self._args = args

    def get(self, name: str, default: Any = None) -> Any:
        return default if name == "loss_type" else self._args.get(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._args, name)


def prepare_grpo(args: Any) -> None:
    refuse_sft_only_arguments(_GRPOLossTypeHidden(args))
    if not (args.get("reward_funcs") or args.get("reward_model")):
        raise UsageError(
            "--rlhf_type grpo needs a reward: --reward_funcs (accuracy, format, cosine, repetition, or "
            "one a plugin registers) and/or --reward_model"
        )
    group = int(args.num_generations)
    if group < 2:
        raise UsageError(
            f"--num_generations must be at least 2 (GRPO compares completions of the same prompt), got {group}"
        )
    if float(args.get("temperature") or 0.0) <= 0:
        raise UsageError(
            f"--temperature must be > 0 for --rlhf_type grpo (greedy decoding makes every completion "
            f"of a prompt the same, so no advantage), got {args.get('temperature')}"
        )
    batch = int(args.per_device_train_batch_size or 1)
    check_later_options(args, world_size())
    if args.get("generation_batch_size") is not None:
        size = int(args.generation_batch_size)
        if size % (batch * world_size()) or size % group:
            raise UsageError(
                f"--generation_batch_size ({size}) must be a multiple of --per_device_train_batch_size ({batch}) x "
                f"processes ({world_size()}) and of --num_generations ({group})"
            )
    else:
        steps_name = "steps_per_generation" if args.get("steps_per_generation") else "gradient_accumulation_steps"
        steps = int(args.get(steps_name) or 1)
        if (batch * steps * world_size()) % group:
            raise UsageError(
                f"--per_device_train_batch_size ({batch}) x --{steps_name} ({steps}) x processes "
                f"({world_size()}) must be a multiple of --num_generations ({group}): each generation batch holds "
                f"whole groups of completions of one prompt"
            )
    explicit = getattr(args, "explicit", ()) or ()
    if "per_device_eval_batch_size" in explicit and (int(args.per_device_eval_batch_size) * world_size()) % group:
        raise UsageError(
            f"--per_device_eval_batch_size ({args.per_device_eval_batch_size}) x processes "
            f"({world_size()}) must be a multiple of --num_generations ({group})"
        )
    check_rollout_backend(args)


def check_rollout_backend(args: Any) -> None:
    """``--use_vllm`` (vLLM colocated with training, GPU only) and what goes with it."""
    if args.get("async_generate"):
        raise UsageError(
            "--async_generate true is not supported: rollouts run synchronously, with the policy of "
            "the current step (the pt engine, or vLLM colocated through trl, which has no asynchronous "
            "mode); remove --async_generate"
        )
    if not args.get("use_vllm"):
        return
    if args.get("vllm_mode") == "server":
        return  # vLLM runs in the `swiftk rollout` servers; the trainer needs neither it nor a GPU
    from swiftk.api import get_host

    if "vllm" not in get_host().registry("infer_engines"):
        raise MissingPluginError(
            "--use_vllm true needs swift-plugin-vllm, which is not installed: "
            "pip install swift-plugin-vllm (or swift-plugin-grpo[vllm])",
            "swift-plugin-vllm",
        )
    explicit = getattr(args, "explicit", ()) or ()
    fixed = [f"--{name}" for name in _SET_BY_TRL if name in explicit]
    if fixed:
        raise UsageError(
            f"{', '.join(fixed)}: trl's colocated vLLM sets these itself (max_num_seqs from the "
            f"generation batch, CUDA graphs and prefix caching on, text only); remove them"
        )
    devices = [str(d) for d in (args.get("vllm_device") or ["auto"])]
    if devices != ["auto"]:
        raise UsageError(
            f"--vllm_device {' '.join(devices)}: vLLM runs colocated on each training process's GPU; "
            f"use --vllm_device auto (the default)"
        )
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise UsageError("--use_vllm true needs the vllm package (a CUDA build): pip install vllm")
    import torch

    if not torch.cuda.is_available():
        raise UsageError(
            "--use_vllm true needs a CUDA GPU (vLLM colocated with training); on CPU, remove --use_vllm "
            "to generate rollouts with the pt engine"
        )
    workers = int(args.get("num_infer_workers") or 1)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if workers not in (1, local):
        raise UsageError(
            f"--num_infer_workers {workers}: with vLLM colocated, each of the {local} training "
            f"process(es) on this node runs one vLLM worker; use 1 or {local}"
        )


def eval_batch_size(args: Any) -> int:
    """The eval batch: whole groups of ``num_generations`` completions across the processes."""
    group, world = int(args.num_generations), world_size()
    step = group // math.gcd(group, world)  # per-process batch sizes that make whole groups
    size = int(args.get("per_device_eval_batch_size") or 1)
    return size if size % step == 0 else step * math.ceil(size / step)


def grpo_config(args: Any) -> dict:
    report_to = args.get("report_to") or []
    report_to = [report_to] if isinstance(report_to, str) else list(report_to)
    values = {
        **later_config(args),
        "log_completions": bool(args.get("log_completions")) and "wandb" in report_to,
        "per_device_eval_batch_size": eval_batch_size(args),
        "vllm_mode": "colocate",
        "vllm_max_model_length": args.get("vllm_max_model_len"),
    }
    if server_mode(args):
        values.update(server_config(args))
    return values


def trl_syncs_server(args: Any) -> bool:
    """Whether trl's own server mode runs (vLLM's NCCL weight sync: vLLM and a CUDA GPU in the trainer);
    otherwise :class:`swiftk_grpo.server_rollout.ServerRollout` does (HTTP and a weights file)."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def server_config(args: Any) -> dict:
    """trl's config for ``--vllm_mode server``: its own server mode, or no vLLM (our rollout_func)."""
    from swiftk_grpo.server_rollout import server_urls

    if not trl_syncs_server(args):
        return {"use_vllm": False}
    urls = server_urls(args)
    if len(urls) > 1:
        raise UsageError(
            f"--vllm_mode server with {len(urls)} servers: trl's NCCL weight sync drives one server; start one "
            f"`swiftk rollout` with --vllm_data_parallel_size {len(urls)} instead"
        )
    return {
        "vllm_mode": "server",
        "vllm_server_base_url": urls[0],
        "vllm_server_timeout": float(args.get("vllm_server_timeout") or 240.0),
    }
