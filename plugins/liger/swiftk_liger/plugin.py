"""Entry point of swift-plugin-liger: hook implementations only; liger-kernel is imported when used."""

import swiftk


@swiftk.hookimpl
def post_args_parse(command, args):
    if command in ("sft", "pt", "rlhf") and args.get("use_liger"):
        from swiftk_liger.apply import check_available

        check_available()


@swiftk.hookimpl
def post_model_load(args, model, processor):
    if args.get("use_liger") and args.command in ("sft", "pt", "rlhf"):
        from swiftk_liger.apply import apply_liger

        apply_liger(model)
