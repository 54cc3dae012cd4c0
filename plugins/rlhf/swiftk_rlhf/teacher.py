"""GKD's teacher: ``--teacher_model`` (``--teacher_model_type``, ``--teacher_model_revision``) with
``--teacher_adapters`` merged, loaded like ``--model`` and frozen.

GKD compares the two models' whole next-token distributions, so the teacher must share the student's
vocabulary: :func:`check_teacher` reads both config.json files before anything loads.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError


def teacher_args(args: Any) -> Any:
    """The arguments that load the teacher: ``--teacher_model*`` in place of ``--model*``."""
    from swiftk.api import derived_args

    if not args.get("teacher_model"):
        raise UsageError(
            "--teacher_model is required with --rlhf_type gkd: the model to distil from (a folder or id "
            "with the same vocabulary as --model)"
        )
    return derived_args(
        args,
        model=args.teacher_model,
        model_type=args.get("teacher_model_type"),
        model_revision=args.get("teacher_model_revision"),
        adapters=[],
        task_type="causal_lm",
        num_labels=None,
    )


def _vocab_size(config: dict) -> Any:
    text = config.get("text_config") or {}
    return config.get("vocab_size") or text.get("vocab_size")


def check_teacher(args: Any) -> None:
    """A missing teacher, or one whose vocabulary differs from the student's: one line, nothing loaded."""
    from swiftk.api import renamed_flags, resolve_model

    targs = teacher_args(args)
    with renamed_flags("teacher_"):
        teacher = resolve_model(targs)
    student = resolve_model(args)
    ours, theirs = _vocab_size(student.config), _vocab_size(teacher.config)
    if ours is not None and theirs is not None and ours != theirs:
        raise UsageError(
            f"--teacher_model {args.teacher_model}: its vocabulary has {theirs} tokens, --model {args.model}'s "
            f"{ours}; GKD compares the two models' next-token distributions, so the teacher needs the student's "
            f"vocabulary (the same tokenizer family)"
        )


def load_teacher(args: Any) -> Any:
    """The frozen teacher model, in eval mode, its adapters merged."""
    from swiftk.api import apply_adapters, load_model_and_processor, renamed_flags

    targs = teacher_args(args)
    with renamed_flags("teacher_"):
        model, _, _ = load_model_and_processor(targs)
    adapters = list(args.get("teacher_adapters") or [])
    if adapters:
        model = apply_adapters(model, adapters, targs, merge=True)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model
