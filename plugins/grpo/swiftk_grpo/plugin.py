"""Entry point of swift-plugin-grpo: registrations only, every value a lazy reference."""

import swiftk
from swiftk.api import TrainerSpec

GRPO = TrainerSpec(
    trainer_cls="swiftk_grpo.trainer:GRPOTrainer",
    args_cls="trl:GRPOConfig",
    data_kind="prompt",
    prepare_args="swiftk_grpo.args:prepare_grpo",
    config_kwargs="swiftk_grpo.args:grpo_config",
    encode="swiftk_grpo.encode:grpo_encoder",
    ref_model="swiftk_grpo.args:needs_reference",
)

REWARDS = {
    "accuracy": "swiftk_grpo.rewards:MathAccuracy",
    "format": "swiftk_grpo.rewards:think_answer_format",
    "cosine": "swiftk_grpo.rewards:CosineReward",
    "repetition": "swiftk_grpo.rewards:RepetitionPenalty",
}


@swiftk.hookimpl
def register_trainers(register):
    register("grpo", GRPO)


@swiftk.hookimpl
def register_arguments(register):
    register("grpo_later", "swiftk_grpo.arguments:GRPOLaterArguments", commands=["rlhf"])


@swiftk.hookimpl
def register_rewards(register):
    for name, reference in REWARDS.items():
        register(name, reference)
