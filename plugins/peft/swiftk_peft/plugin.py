"""Entry point of swift-plugin-peft: registrations only, every value a lazy reference."""

import swiftk
from swiftk.api import TunerSpec

_TRAIN_COMMANDS = ("sft", "pt", "rlhf")
_LOAD = "swiftk_peft.lora:load_adapter"
_MERGE = "swiftk_peft.lora:merge_adapter"


@swiftk.hookimpl
def register_tuners(register):
    register("lora", TunerSpec(prepare="swiftk_peft.lora:prepare_lora", load=_LOAD, merge=_MERGE))
    register("adalora", TunerSpec(prepare="swiftk_peft.tuners:prepare_adalora", load=_LOAD, merge=_MERGE))
    register("vera", TunerSpec(prepare="swiftk_peft.tuners:prepare_vera", load=_LOAD, merge=_MERGE))
    register("boft", TunerSpec(prepare="swiftk_peft.tuners:prepare_boft", load=_LOAD, merge=_MERGE))
    register("fourierft", TunerSpec(prepare="swiftk_peft.tuners:prepare_fourierft", load=_LOAD, merge=_MERGE))
    register("ia3", TunerSpec(prepare="swiftk_peft.tuners:prepare_ia3", load=_LOAD, merge=_MERGE))  # later ms-swift
    register("bone", TunerSpec(prepare="swiftk_peft.tuners:prepare_bone", load=_LOAD, merge=_MERGE))  # ms-swift 3.x
    register(
        "longlora",
        TunerSpec(
            prepare="swiftk_peft.longlora:prepare_longlora",
            load="swiftk_peft.longlora:load_longlora",
            merge="swiftk_peft.longlora:merge_longlora",
        ),
    )
    register(
        "llamapro",
        TunerSpec(
            prepare="swiftk_peft.llamapro:prepare_llamapro",
            load="swiftk_peft.llamapro:load_llamapro",
            merge="swiftk_peft.llamapro:merge_llamapro",
        ),
    )
    register(
        "adapter",
        TunerSpec(prepare="swiftk_peft.adapter:prepare_adapter", load="swiftk_peft.adapter:load_adapter", merge=None),
    )


@swiftk.hookimpl
def register_optimizers(register):
    register("lorap", "swiftk_peft.loraplus:create_lorap_optimizer")


@swiftk.hookimpl
def register_callbacks(register):
    register("adalora", "swiftk_peft.tuners:adalora_callback", when=lambda args: args.get("train_type") == "adalora")


@swiftk.hookimpl
def register_arguments(register):
    register("adapter", "swiftk_peft.arguments:AdapterArguments", commands=list(_TRAIN_COMMANDS))


@swiftk.hookimpl
def post_args_parse(command, args):
    if command not in _TRAIN_COMMANDS:
        return
    # LoRA+ is an optimizer: --lorap_lr_ratio picks it unless --optimizer names another (as ms-swift does)
    if args.get("lorap_lr_ratio") and not args.get("optimizer"):
        args.optimizer = "lorap"
    backend = args.get("tuner_backend") or "peft"
    if backend != "peft":
        from swiftk.api import get_host

        get_host().registry("tuners").entry(backend)  # a missing backend plugin is named now, not after loading


@swiftk.hookimpl
def post_trainer_create(args, trainer):
    """Full training of a multimodal model: --freeze_llm / --freeze_vit / --freeze_aligner."""
    from swiftk.api import get_host

    spec = get_host().registry("tuners").get(args.get("train_type")) if args.get("train_type") else None
    if spec is not None and getattr(spec, "full_parameter", False):
        from swiftk_peft.targets import freeze_multimodal_parts

        freeze_multimodal_parts(trainer.model, args)
