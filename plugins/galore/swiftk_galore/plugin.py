"""Entry point of swift-plugin-galore: registrations only, every value a lazy reference."""

import swiftk


@swiftk.hookimpl
def register_optimizers(register):
    register("galore", "swiftk_galore.optim:create_galore_optimizer")


@swiftk.hookimpl
def post_args_parse(command, args):
    if command not in ("sft", "pt", "rlhf") or not args.get("use_galore"):
        return
    from swiftk_galore.optim import check_args

    check_args(args)
    if not args.get("optimizer"):
        args.optimizer = "galore"  # as ms-swift: --use_galore picks the galore optimizer
