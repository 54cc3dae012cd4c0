"""GRPO arguments of later ms-swift (3.5-3.12), not on the v3.2 page: DAPO, GSPO, RLOO, REINFORCE++, SAPO
and the vLLM rollout settings.  Registered for ``swiftk rlhf`` by this plugin; :mod:`swiftk_grpo.args`
checks them and maps them onto trl's ``GRPOConfig``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal, Optional

from swiftk.api import arg


@dataclass
class GRPOLaterArguments:
    SECTION = "GRPO arguments"

    generation_batch_size: Optional[int] = arg(
        None, "Completions per generation round (later ms-swift); None: per-device batch x processes x steps."
    )
    steps_per_generation: Optional[int] = arg(
        None, "Optimizer micro-steps fed by one generation round (later ms-swift); None: gradient_accumulation_steps."
    )
    epsilon_high: Optional[float] = arg(None, "Upper clip coefficient (DAPO clip-higher); None: --epsilon.")
    importance_sampling_level: Literal["token", "sequence", "sequence_token"] = arg(
        "token", "Importance ratio per token, or one per sequence (GSPO); sequence_token is refused."
    )
    overlong_filter: bool = arg(False, "Truncated completions (no end token) count nothing in the loss (DAPO).")
    advantage_estimator: Literal["grpo", "rloo", "reinforce_plus_plus"] = arg(
        "grpo", "Advantages: group mean baseline (grpo), leave-one-out (rloo), or REINFORCE++."
    )
    kl_in_reward: Optional[bool] = arg(
        None, "KL subtracted from the reward instead of added to the loss; None: false for grpo, true otherwise."
    )
    scale_rewards: Optional[str] = arg(
        None,
        "Advantage scaling: group, batch or none (true = group, false = none, as before ms-swift 3.10); "
        "None: group for grpo, none for rloo, batch for reinforce_plus_plus.",
    )
    dynamic_sample: bool = arg(False, "Replace groups whose rewards are all equal by new prompts (DAPO).")
    max_resample_times: int = arg(3, "With dynamic_sample: at most this many extra generation rounds.")
    tau_pos: float = arg(1.0, "SAPO gate temperature for positive advantages.")
    tau_neg: float = arg(1.05, "SAPO gate temperature for negative advantages.")
    vllm_mode: Optional[Literal["colocate", "server"]] = arg(
        None, "With --use_vllm: colocate (vLLM on the training GPUs) or server (a `swiftk rollout` server elsewhere)."
    )
    vllm_tensor_parallel_size: int = arg(1, "Tensor parallel size of colocated vLLM.")
    vllm_server_host: Optional[List[str]] = arg(None, "vllm_mode server: host(s) of the rollout server(s).")
    vllm_server_port: List[int] = arg([8000], "vllm_mode server: port(s) of the rollout server(s), one per host.")
    vllm_server_base_url: Optional[List[str]] = arg(
        None, "vllm_mode server: base URL(s) of the rollout server(s), instead of host and port."
    )
    vllm_server_timeout: float = arg(240.0, "vllm_mode server: seconds to wait for the server(s) to answer.")
    sleep_level: int = arg(
        0, "Colocated vLLM: 0 stays resident; 1 or 2 sleeps during training steps.", choices=(0, 1, 2)
    )
    offload_model: bool = arg(False, "Move the policy to CPU during vLLM rollouts (refused: not implemented).")
    offload_optimizer: bool = arg(False, "Move optimizer states to CPU during vLLM rollouts (refused).")
    move_model_batches: Optional[int] = arg(None, "Sync weights to vLLM in this many batches (refused).")
