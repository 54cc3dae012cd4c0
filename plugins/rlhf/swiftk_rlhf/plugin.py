"""Entry point of swift-plugin-rlhf: registrations only, every value a lazy reference.

Each ``--rlhf_type`` is a :class:`swiftk.specs.TrainerSpec` that the kernel's ``rlhf`` pipeline
(``swiftk.pipelines.train``, shared with sft and pt) runs: the trainer (trl's, with ``SwiftTrainerMixin``), its trl config,
the argument checks and config values (:mod:`swiftk_rlhf.args`) and the row encoder
(:mod:`swiftk_rlhf.encode`).
"""

import swiftk
from swiftk.api import EngineSpec, TrainerSpec

_A = "swiftk_rlhf.args"
_E = "swiftk_rlhf.encode"
_T = "swiftk_rlhf.trainers"

SPECS = {
    "dpo": TrainerSpec(
        trainer_cls=f"{_T}:DPOTrainer",
        args_cls="trl:DPOConfig",
        data_kind="preference",
        prepare_args=f"{_A}:prepare_dpo",
        config_kwargs=f"{_A}:dpo_config",
        encode=f"{_E}:dpo_encoder",
        ref_model=True,
    ),
    "cpo": TrainerSpec(
        trainer_cls=f"{_T}:CPOTrainer",
        args_cls="trl.experimental.cpo:CPOConfig",
        data_kind="preference",
        prepare_args=f"{_A}:prepare_cpo",
        config_kwargs=f"{_A}:cpo_config",
        encode=f"{_E}:paired_encoder",
    ),
    "simpo": TrainerSpec(
        trainer_cls=f"{_T}:CPOTrainer",
        args_cls="trl.experimental.cpo:CPOConfig",
        data_kind="preference",
        prepare_args=f"{_A}:prepare_simpo",
        config_kwargs=f"{_A}:simpo_config",
        encode=f"{_E}:paired_encoder",
    ),
    "orpo": TrainerSpec(
        trainer_cls=f"{_T}:ORPOTrainer",
        args_cls="trl.experimental.orpo:ORPOConfig",
        data_kind="preference",
        prepare_args=f"{_A}:prepare_orpo",
        config_kwargs=f"{_A}:orpo_config",
        encode=f"{_E}:paired_encoder",
    ),
    "kto": TrainerSpec(
        trainer_cls=f"{_T}:KTOTrainer",
        args_cls="trl:KTOConfig",
        data_kind="kto",
        prepare_args=f"{_A}:prepare_kto",
        config_kwargs=f"{_A}:kto_config",
        encode=f"{_E}:kto_encoder",
        ref_model=True,
    ),
    "rm": TrainerSpec(
        trainer_cls=f"{_T}:RewardTrainer",
        args_cls="trl:RewardConfig",
        data_kind="preference",
        prepare_args=f"{_A}:prepare_rm",
        config_kwargs=f"{_A}:rm_config",
        encode=f"{_E}:rm_encoder",
    ),
    "gkd": TrainerSpec(
        trainer_cls="swiftk_rlhf.gkd:GKDTrainer",
        args_cls="trl.experimental.gkd:GKDConfig",
        data_kind="gkd",
        prepare_args=f"{_A}:prepare_gkd",
        config_kwargs=f"{_A}:gkd_config",
        encode="swiftk_rlhf.gkd:gkd_encoder",
    ),
    "ppo": TrainerSpec(
        trainer_cls="swiftk_rlhf.ppo:PPOTrainer",
        args_cls="swiftk_rlhf.ppo:PPOConfig",
        data_kind="prompt",
        prepare_args=f"{_A}:prepare_ppo",
        config_kwargs=f"{_A}:ppo_config",
        encode=f"{_E}:prompt_encoder",
        ref_model=True,
    ),
}


@swiftk.hookimpl
def register_trainers(register):
    for name, spec in SPECS.items():
        register(name, spec)


@swiftk.hookimpl
def register_arguments(register):
    # later ms-swift's GKD teacher and DPO loss weights (swiftk_rlhf.arguments)
    register("gkd", "swiftk_rlhf.arguments:GKDArguments", commands=["rlhf"])
    register("loss_weights", "swiftk_rlhf.arguments:LossWeightsArguments", commands=["rlhf"])


@swiftk.hookimpl
def register_infer_engines(register):
    # a reward model (--rlhf_type rm) in swiftk infer/deploy: each conversation's score
    register("reward", EngineSpec(engine_cls="swiftk_rlhf.engine:RewardEngine"))


@swiftk.hookimpl
def register_rewards(register):
    # --reward_model as GRPO's last reward (a class built from the run's arguments)
    register("reward_model", "swiftk_rlhf.reward_model:RewardModelReward")
