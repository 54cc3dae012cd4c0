"""Checks and trl values for later ms-swift's GRPO options (:class:`swiftk_grpo.arguments.GRPOLaterArguments`).

Most are trl 1.16 ``GRPOConfig`` fields under another name (``overlong_filter`` is
``mask_truncated_completions``, ``tau_pos``/``tau_neg`` are ``sapo_temperature_pos``/``_neg``,
``sleep_level`` > 0 is ``vllm_enable_sleep_mode``); ``advantage_estimator``, ``kl_in_reward`` and
``dynamic_sample`` are ours (:mod:`swiftk_grpo.advantages`, :class:`swiftk_grpo.trainer.GRPOTrainer`).
What cannot run here is refused with the reason.  Imports nothing heavy.
"""

from __future__ import annotations

from typing import Any, Optional

from swiftk.api import UsageError

#: ms-swift 3.12's GRPO loss types; trl 1.16 implements each under the same name
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "sapo", "cispo")
#: --scale_rewards forms: 3.10+ names, and the booleans of earlier releases
_SCALE_FORMS = {"group": "group", "batch": "batch", "none": "none", "true": "group", "false": "none"}
#: the default scale of each advantage estimator (ms-swift 3.12)
_DEFAULT_SCALE = {"grpo": "group", "rloo": "none", "reinforce_plus_plus": "batch"}
_SERVER_ARGS = ("vllm_server_host", "vllm_server_port", "vllm_server_base_url", "vllm_server_timeout")


def server_mode(args: Any) -> bool:
    """``--use_vllm true --vllm_mode server``: rollouts from ``swiftk rollout`` servers."""
    return bool(args.get("use_vllm")) and args.get("vllm_mode") == "server"


def _explicit(args: Any) -> set:
    return set(getattr(args, "explicit", ()) or ())


def loss_type(args: Any) -> str:
    """GRPO's ``--loss_type`` (default ``grpo``, ms-swift's), or a usage error naming the valid ones."""
    value = args.get("loss_type")
    if isinstance(value, list):
        if len(value) != 1:
            raise UsageError(f"--loss_type takes one value for --rlhf_type grpo, got {' '.join(value)}")
        value = value[0]
    if value is None:
        return "grpo"
    if value not in LOSS_TYPES:
        raise UsageError(f"--loss_type {value}: not a GRPO loss; choose from {', '.join(LOSS_TYPES)}")
    return value


def scale_rewards(args: Any) -> str:
    """``group``, ``batch`` or ``none`` from any of ms-swift's forms; unset: the estimator's default."""
    value = args.get("scale_rewards")
    if value is None:
        return _DEFAULT_SCALE[args.get("advantage_estimator") or "grpo"]
    form = _SCALE_FORMS.get(str(value).strip().lower())
    if form is None:
        raise UsageError(f"--scale_rewards {value}: choose from group, batch, none (or true = group, false = none)")
    return form


def kl_in_reward(args: Any) -> bool:
    value: Optional[bool] = args.get("kl_in_reward")
    return (args.get("advantage_estimator") or "grpo") != "grpo" if value is None else bool(value)


def check_later_options(args: Any, world: int) -> None:
    """Refuse, before the model loads, what these options cannot do here."""
    loss_type(args)
    scale_rewards(args)
    explicit = _explicit(args)
    if args.get("importance_sampling_level") == "sequence_token":
        raise UsageError(
            "--importance_sampling_level sequence_token (GSPO-token) is not supported: trl 1.16 computes "
            "token or sequence ratios; use sequence"
        )
    eps_high = args.get("epsilon_high")
    if eps_high is not None and eps_high < float(args.get("epsilon") or 0.0) and loss_type(args) != "cispo":
        raise UsageError(f"--epsilon_high ({eps_high}) must be >= --epsilon ({args.get('epsilon')})")
    if args.get("steps_per_generation") is not None and args.get("generation_batch_size") is not None:
        raise UsageError("--steps_per_generation and --generation_batch_size: set one of them, not both")
    for name in ("steps_per_generation", "generation_batch_size"):
        if args.get(name) is not None and int(args.get(name)) < 1:
            raise UsageError(f"--{name} must be >= 1, got {args.get(name)}")
    if args.get("dynamic_sample"):
        if int(args.get("max_resample_times")) < 1:
            raise UsageError(f"--max_resample_times must be >= 1 with --dynamic_sample, got {args.max_resample_times}")
        if world > 1:
            raise UsageError(
                "--dynamic_sample true runs in one process only for now (groups are re-drawn per process); "
                "train without a launcher, or remove --dynamic_sample"
            )
    elif "max_resample_times" in explicit:
        raise UsageError("--max_resample_times is used by --dynamic_sample true only; set it or remove both")
    _check_vllm_options(args, explicit)


def _check_vllm_options(args: Any, explicit: set) -> None:
    use_vllm = bool(args.get("use_vllm"))
    mode = args.get("vllm_mode")
    if mode is not None and not use_vllm:
        raise UsageError(f"--vllm_mode {mode} needs --use_vllm true (without it the pt engine samples the rollouts)")
    server = [f"--{n}" for n in _SERVER_ARGS if n in explicit]
    if mode == "server":
        _check_server_options(args, explicit)
    elif server:
        raise UsageError(f"{', '.join(server)}: only used with --vllm_mode server (a `swiftk rollout` server)")
    if int(args.get("sleep_level") or 0) and not use_vllm:
        raise UsageError(f"--sleep_level {args.sleep_level} puts vLLM to sleep: it needs --use_vllm true")
    if int(args.get("vllm_tensor_parallel_size") or 1) != 1 and not use_vllm:
        raise UsageError("--vllm_tensor_parallel_size needs --use_vllm true")
    refused = [f"--{n} true" for n in ("offload_model", "offload_optimizer") if args.get(n)]
    if args.get("move_model_batches") is not None:
        refused.append(f"--move_model_batches {args.move_model_batches}")
    if refused:
        raise UsageError(
            f"{', '.join(refused)}: not implemented (trl's colocated vLLM keeps the policy and optimizer on the "
            f"GPU and syncs weights itself); remove, and lower --vllm_gpu_memory_utilization or use --sleep_level 1"
        )


#: the rollout engine's own settings: in server mode they belong on `swiftk rollout`'s command line
_SERVER_SIDE = (
    "vllm_tensor_parallel_size",
    "vllm_gpu_memory_utilization",
    "vllm_max_model_len",
    "vllm_enforce_eager",
    "vllm_enable_prefix_caching",
    "vllm_max_num_seqs",
    "vllm_limit_mm_per_prompt",
    "sleep_level",
)


def _check_server_options(args: Any, explicit: set) -> None:
    """``--vllm_mode server``: where the servers are, and nothing that configures them from here."""
    if not (args.get("vllm_server_host") or args.get("vllm_server_base_url")):
        raise UsageError(
            "--vllm_mode server needs --vllm_server_host (with --vllm_server_port) or --vllm_server_base_url: "
            "where `swiftk rollout` serves"
        )
    hosts, ports = list(args.get("vllm_server_host") or []), list(args.get("vllm_server_port") or [])
    if hosts and not args.get("vllm_server_base_url") and len(ports) not in (1, len(hosts)):
        raise UsageError(
            f"--vllm_server_port: give one port, or one per --vllm_server_host ({len(hosts)}), got {len(ports)}"
        )
    train_type = args.get("train_type") or "lora"
    if train_type not in ("lora", "full", "dummy"):
        raise UsageError(
            f"--vllm_mode server with --train_type {train_type}: the server is sent full weights (LoRA merged in); "
            f"other tuners' weights have no checkpoint names vLLM loads. Use lora or full, or the pt engine"
        )
    engine = [f"--{n}" for n in _SERVER_SIDE if n in explicit]
    if engine:
        raise UsageError(
            f"{', '.join(engine)}: with --vllm_mode server the rollout server's vLLM is configured where it "
            f"starts; pass them to `swiftk rollout` instead"
        )
    if float(args.get("vllm_server_timeout") or 0) <= 0:
        raise UsageError(f"--vllm_server_timeout must be > 0 seconds, got {args.get('vllm_server_timeout')}")


def later_config(args: Any) -> dict:
    """trl ``GRPOConfig`` values of these options."""
    values = {
        "loss_type": loss_type(args),
        "scale_rewards": scale_rewards(args),
        "mask_truncated_completions": bool(args.get("overlong_filter")),
        "importance_sampling_level": args.get("importance_sampling_level") or "token",
        "epsilon_high": args.get("epsilon_high"),
        "sapo_temperature_pos": float(args.get("tau_pos")),
        "sapo_temperature_neg": float(args.get("tau_neg")),
        "vllm_tensor_parallel_size": int(args.get("vllm_tensor_parallel_size") or 1),
    }
    for name in ("steps_per_generation", "generation_batch_size"):
        if args.get(name) is not None:
            values[name] = int(args.get(name))
    if args.get("use_vllm"):
        values["vllm_enable_sleep_mode"] = int(args.get("sleep_level") or 0) > 0
    return values
