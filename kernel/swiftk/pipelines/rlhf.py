"""Helpers of preference and RL training shared by the training recipe (:mod:`swiftk.pipelines.train`)
and the trainer plugins: the reference model, and arguments for a second model.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from swiftk.errors import UsageError


def derived_args(args: Any, **values: Any) -> Any:
    """A copy of ``args`` with some values replaced (to load a reference or reward model)."""
    from swiftk.arguments.parser import Arguments

    return Arguments(args.command, {**args._values, **values}, set(args.explicit), args.parser, args.given)


def load_reference_model(args: Any) -> Any:
    """``--ref_model`` (``--ref_model_type``, ``--ref_model_revision``), else ``--model`` again, frozen."""
    from swiftk.pipelines.model import load_model_and_processor

    if args.get("ref_model"):
        from swiftk.arguments.load_args import adapter_base, is_adapter_folder
        from swiftk.pipelines.export import apply_adapters

        ref_model_path, ref_type, adapters = args.ref_model, args.get("ref_model_type"), []
        if is_adapter_folder(ref_model_path):  # an adapter checkpoint: its base model with the adapter merged
            ref_model_path, saved = adapter_base(args.ref_model, "--ref_model")
            ref_type, adapters = ref_type or saved.get("model_type"), [args.ref_model]
            print(
                f"[swiftk] --ref_model {args.ref_model} is an adapter checkpoint: loading its base model "
                f"{ref_model_path} with that adapter merged"
            )
        ref_args = derived_args(
            args, model=ref_model_path, model_type=ref_type, model_revision=args.get("ref_model_revision"), adapters=[]
        )
        with renamed_flags("ref_"):
            ref_model, _, _ = load_model_and_processor(ref_args)
        ref_model = apply_adapters(ref_model, adapters, ref_args, merge=True)
    else:
        ref_model, _, _ = load_model_and_processor(derived_args(args, adapters=[]))
    ref_model.eval()
    for param in ref_model.parameters():
        param.requires_grad_(False)
    return ref_model


@contextlib.contextmanager
def renamed_flags(prefix: str) -> Iterator[None]:
    """Errors about ``--model``/``--model_type``/``--model_revision`` while loading a second model name the
    flags that model came from (``prefix`` "ref_": ``--ref_model``, ...)."""
    import re

    try:
        yield
    except UsageError as exc:
        message = re.sub(r"--model(_type|_revision)?\b", lambda m: f"--{prefix}model{m.group(1) or ''}", str(exc))
        raise UsageError(message) from None
