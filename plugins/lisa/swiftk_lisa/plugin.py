"""Entry point of swift-plugin-lisa: registrations only, every value a lazy reference."""

import swiftk


def _active(args):
    return int(args.get("lisa_activated_layers") or 0) > 0


@swiftk.hookimpl
def register_callbacks(register):
    register("lisa", "swiftk_lisa.callback:LisaCallback", when=_active, takes_args=True)


@swiftk.hookimpl
def post_args_parse(command, args):
    if command not in ("sft", "pt", "rlhf") or not _active(args):
        return
    from swiftk.api import UsageError, get_host

    spec = get_host().registry("tuners").get(args.train_type) if args.get("train_type") else None
    if spec is None or not getattr(spec, "full_parameter", False):
        raise UsageError(
            f"--lisa_activated_layers: LISA is for full training (--train_type full), not "
            f"--train_type {args.get('train_type')}"
        )
