"""The page's "RLHF参数" and its sub-groups: reward model, PPO, GRPO (with the cosine and
repetition reward parameters) and SwanLab."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional

from swiftk.arguments.base.template import LOSS_SCALES
from swiftk.arguments.fields import arg

RLHF = "swift-plugin-rlhf"
GRPO = "swift-plugin-grpo"
VLLM = "swift-plugin-vllm"
SWANLAB = "swift-plugin-trackers"
#: the reward model serves PPO (swift-plugin-rlhf) and GRPO (swift-plugin-grpo)
REWARD_MODEL = f"{RLHF} or {GRPO}"


@dataclass
class RLHFArguments:
    """RLHF arguments (the seed page's "RLHF参数")."""

    SECTION = "RLHF arguments"
    SECTION_ZH = "RLHF参数"

    rlhf_type: str = arg(
        "dpo",
        "Alignment algorithm (or a trainer a plugin registers).",
        hot=True,
        choices=("dpo", "orpo", "simpo", "kto", "cpo", "rm", "ppo", "grpo"),
        registry="trainers",
    )
    ref_model: Optional[str] = arg(None, "Reference model, needed by dpo, kto and ppo with full training.")
    ref_model_type: Optional[str] = arg(None, "model_type of the reference model.")
    ref_model_revision: Optional[str] = arg(None, "Revision of the reference model.")
    beta: Optional[float] = arg(
        None, "KL regularization coefficient; None means 2.0 for simpo, 0.04 for grpo, 0.1 otherwise.", hot=True
    )
    label_smoothing: float = arg(0.0, "DPO label smoothing.")
    rpo_alpha: float = arg(1.0, "Weight of the SFT loss added to DPO: KL_loss + rpo_alpha * sft_loss.", hot=True)
    cpo_alpha: float = arg(1.0, "Coefficient of the NLL loss in CPO/SimPO.")
    simpo_gamma: float = arg(1.0, "SimPO reward margin (0.5-1.5 suggested).")
    desirable_weight: float = arg(1.0, "KTO loss weight of desirable responses.")
    undesirable_weight: float = arg(1.0, "KTO loss weight of undesirable responses.")
    loss_scale: str = arg(
        "last_round",
        "Overrides the template's loss_scale for alignment.",
        choices=LOSS_SCALES,
        registry="loss_scales",
    )
    temperature: float = arg(0.9, "Sampling temperature, used by PPO and GRPO.")


@dataclass
class RewardModelArguments:
    """Reward model arguments (the seed page's "Reward模型参数")."""

    SECTION = "Reward model arguments"
    SECTION_ZH = "Reward模型参数"

    reward_model: Optional[str] = arg(None, "Reward model id or path (PPO, GRPO).", plugin=REWARD_MODEL)
    reward_adapters: List[str] = arg(list, "Adapters of the reward model.", plugin=REWARD_MODEL)
    reward_model_type: Optional[str] = arg(None, "model_type of the reward model.", plugin=REWARD_MODEL)
    reward_model_revision: Optional[str] = arg(None, "Revision of the reward model.", plugin=REWARD_MODEL)


@dataclass
class PPOArguments:
    """PPO arguments (the seed page's "PPO参数")."""

    SECTION = "PPO arguments"
    SECTION_ZH = "PPO参数"

    num_ppo_epochs: int = arg(4, "PPO epochs per batch.", plugin=RLHF)
    whiten_rewards: bool = arg(False, "Whiten the rewards.", plugin=RLHF)
    kl_coef: float = arg(0.05, "KL coefficient.", plugin=RLHF)
    cliprange: float = arg(0.2, "Policy clip range.", plugin=RLHF)
    vf_coef: float = arg(0.1, "Value-function loss coefficient.", plugin=RLHF)
    cliprange_value: float = arg(0.2, "Value-function clip range.", plugin=RLHF)
    gamma: float = arg(1.0, "Discount factor.", plugin=RLHF)
    lam: float = arg(0.95, "GAE lambda.", plugin=RLHF)
    num_mini_batches: int = arg(1, "Mini-batches per batch.", plugin=RLHF)
    local_rollout_forward_batch_size: int = arg(64, "Per-device batch size of rollout forwards.", plugin=RLHF)
    num_sample_generations: int = arg(10, "Number of debug sample generations during training.", plugin=RLHF)
    response_length: int = arg(512, "Max response length.", plugin=RLHF)
    missing_eos_penalty: Optional[float] = arg(
        None, "Penalty subtracted from the score of responses without EOS.", plugin=RLHF
    )


@dataclass
class GRPOArguments:
    """GRPO arguments (the seed page's "GRPO参数")."""

    SECTION = "GRPO arguments"
    SECTION_ZH = "GRPO参数"

    num_generations: int = arg(8, "GRPO group size G (completions per prompt).", plugin=GRPO)
    max_completion_length: int = arg(512, "Max completion length (GRPO; also GKD's).", plugin=f"{GRPO} or {RLHF}")
    ds3_gather_for_generation: bool = arg(
        True, "ZeRO-3: gather policy weights for generation (faster; needed by vLLM).", plugin=GRPO
    )
    reward_funcs: List[str] = arg(
        list,
        "Reward functions: accuracy, format, cosine, repetition, or registered ones.",
        plugin=GRPO,
        choices=("accuracy", "format", "cosine", "repetition"),
        registry="rewards",
    )
    reward_weights: Optional[List[float]] = arg(
        None, "One weight per reward function (the reward model counts last); None weighs all 1.0.", plugin=GRPO
    )
    log_completions: bool = arg(
        False, "Log completions (to wandb with --report_to wandb, else completions.jsonl).", plugin=GRPO
    )
    use_vllm: bool = arg(False, "Generate with vLLM.", plugin=GRPO)
    num_infer_workers: int = arg(1, "Inference workers per node (vllm or lmdeploy only).", plugin=GRPO)
    vllm_device: List[str] = arg(
        ["auto"],
        "vLLM devices: auto (the last num_infer_workers cards) or one device per worker, e.g. cuda:1 cuda:2.",
        plugin=VLLM,
    )
    vllm_gpu_memory_utilization: float = arg(0.9, "vLLM gpu_memory_utilization.", plugin=VLLM)
    vllm_max_model_len: Optional[int] = arg(None, "vLLM max_model_len.", plugin=VLLM)
    vllm_max_num_seqs: int = arg(256, "vLLM max_num_seqs.", plugin=VLLM)
    vllm_enforce_eager: bool = arg(False, "vLLM enforce_eager.", plugin=VLLM)
    vllm_limit_mm_per_prompt: Optional[Dict[str, Any]] = arg(None, "vLLM limit_mm_per_prompt as JSON.", plugin=VLLM)
    vllm_enable_prefix_caching: bool = arg(True, "vLLM enable_prefix_caching.", plugin=VLLM)
    top_k: int = arg(50, "top_k of GRPO/PPO sampling.")
    top_p: float = arg(0.9, "top_p of GRPO/PPO sampling.")
    repetition_penalty: float = arg(1.0, "Repetition penalty of GRPO/PPO sampling.")
    num_iterations: int = arg(1, "Updates per generated batch.", plugin=GRPO)
    epsilon: float = arg(0.2, "Clip coefficient.", plugin=GRPO)
    async_generate: bool = arg(False, "Asynchronous rollout to speed up training.", plugin=GRPO)
    # cosine reward
    cosine_min_len_value_wrong: float = arg(
        0.0, "Cosine reward: reward of a wrong answer at minimum length.", plugin=GRPO
    )
    cosine_max_len_value_wrong: float = arg(
        -0.5, "Cosine reward: reward of a wrong answer at maximum length.", plugin=GRPO
    )
    cosine_min_len_value_correct: float = arg(
        1.0, "Cosine reward: reward of a correct answer at minimum length.", plugin=GRPO
    )
    cosine_max_len_value_correct: float = arg(
        0.5, "Cosine reward: reward of a correct answer at maximum length.", plugin=GRPO
    )
    cosine_max_len: Optional[int] = arg(
        None, "Cosine reward: max length; None means max_completion_length.", plugin=GRPO
    )
    # repetition reward
    repetition_n_grams: int = arg(3, "Repetition reward: n-gram size.", plugin=GRPO)
    repetition_max_penalty: float = arg(-1.0, "Repetition reward: maximum penalty.", plugin=GRPO)


@dataclass
class SwanlabArguments:
    """SwanLab arguments (the seed page's "SWANLAB")."""

    SECTION = "SwanLab arguments"
    SECTION_ZH = "SWANLAB"

    swanlab_token: Optional[str] = arg(None, "SwanLab API key.", plugin=SWANLAB)
    swanlab_project: Optional[str] = arg(None, "SwanLab project (create it on swanlab.cn first).", plugin=SWANLAB)
    swanlab_workspace: Optional[str] = arg(None, "SwanLab workspace; None uses the API key's user.", plugin=SWANLAB)
    swanlab_exp_name: Optional[str] = arg(None, "Experiment name; None uses output_dir.", plugin=SWANLAB)
    swanlab_mode: Literal["cloud", "local"] = arg("cloud", "SwanLab mode: cloud or local.", plugin=SWANLAB)
