"""Entry point of swift-plugin-sft: registrations only, every value a lazy reference."""

import swiftk
from swiftk.api import TrainerSpec, TunerSpec


@swiftk.hookimpl
def register_trainers(register):
    register("sft", TrainerSpec(trainer_cls="swiftk_sft.trainer:Seq2SeqTrainer"))


@swiftk.hookimpl
def register_tuners(register):
    register("full", TunerSpec(prepare="swiftk_sft.full:prepare_full", full_parameter=True))
    register("dummy", TunerSpec(prepare="swiftk_sft.full:prepare_dummy", full_parameter=True))  # later ms-swift


@swiftk.hookimpl
def register_metrics(register):
    register("acc", "swiftk_sft.metrics:acc_metric", score_texts="swiftk_sft.scoring:exact_match_scores")
    register("nlg", "swiftk_sft.metrics:nlg_metric", score_texts="swiftk_sft.scoring:nlg_scores")


@swiftk.hookimpl
def register_losses(register):
    register("cross_entropy", "swiftk_sft.losses:cross_entropy")
    register("loss_scale", "swiftk_sft.losses:loss_scale_cross_entropy")


@swiftk.hookimpl
def register_optimizers(register):
    register("muon", "swiftk_sft.muon:create_muon_optimizer")  # later ms-swift's --optimizer muon


@swiftk.hookimpl
def register_callbacks(register):
    register("logging_jsonl", "swiftk_sft.callbacks:JsonlLoggingCallback")
    register("loss_curves", "swiftk_sft.callbacks:PlotCallback")
    register("early_stop", "swiftk_sft.early_stop:EarlyStopCallback", when=_early_stop, takes_args=True)


@swiftk.hookimpl
def register_arguments(register):
    register("padding_free", "swiftk_sft.arguments:PaddingFreeArguments", commands=["sft", "pt", "rlhf"])
    register("router_aux_loss_coef", "swiftk_sft.arguments:RouterAuxLossArguments", commands=["sft", "pt", "rlhf"])
    register("use_logits_to_keep", "swiftk_sft.arguments:LogitsToKeepArguments", commands=["sft", "pt"])
    register("early_stop_interval", "swiftk_sft.arguments:EarlyStopArguments", commands=["sft", "pt", "rlhf"])
    register("enable_dft_loss", "swiftk_sft.arguments:DftLossArguments", commands=["sft", "pt"])
    register(
        "vit_gradient_checkpointing", "swiftk_sft.arguments:VitCheckpointingArguments", commands=["sft", "pt", "rlhf"]
    )


@swiftk.hookimpl
def post_trainer_create(args, trainer):
    """--vit_gradient_checkpointing different from --gradient_checkpointing: the vision tower set apart."""
    if args.get("vit_gradient_checkpointing") is not None:
        from swiftk_sft.vit_checkpointing import apply_vit_gradient_checkpointing

        apply_vit_gradient_checkpointing(args, trainer)


def _early_stop(args):
    return "early_stop_interval" in args and bool(args.get("early_stop_interval"))
