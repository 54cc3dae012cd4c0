"""Entry point of swift-plugin-unsloth: registrations only, every value a lazy reference."""

import swiftk
from swiftk.api import TunerSpec


@swiftk.hookimpl
def register_tuners(register):
    register(
        "unsloth",
        TunerSpec(
            prepare="swiftk_unsloth.tuner:prepare_unsloth",
            load="swiftk_peft.lora:load_adapter",
            merge="swiftk_peft.lora:merge_adapter",
        ),
    )


@swiftk.hookimpl
def post_args_parse(command, args):
    if command in ("sft", "pt", "rlhf") and (
        args.get("tuner_backend") == "unsloth" or args.get("train_type") == "unsloth"
    ):
        from swiftk_unsloth.tuner import check_available

        check_available(args)
