"""The three task types, their losses and the environment variables ms-swift reads: checked before anything
heavy loads, so that a loss that does not fit the task or a bad variable is one line naming it."""

from __future__ import annotations

import os
from typing import Any

from swiftk.api import UsageError

#: task type -> (default --loss_type, the losses that fit it), as ms-swift pairs them
LOSSES = {
    "embedding": ("infonce", ("infonce", "cosine_similarity", "contrastive", "online_contrastive")),
    "reranker": ("reranker", ("reranker", "listwise_reranker")),
    "generative_reranker": ("generative_reranker", ("generative_reranker", "listwise_generative_reranker")),
}
#: ms-swift registers the pointwise and listwise losses once each; a generative reranker's logits are the
#: yes-minus-no difference, so the classification names fit it too (and the other way round)
LOSSES["reranker"] = (LOSSES["reranker"][0], LOSSES["reranker"][1] + LOSSES["generative_reranker"][1])
LOSSES["generative_reranker"] = (LOSSES["generative_reranker"][0], LOSSES["reranker"][1])

#: environment variable -> (kind, task types it applies to)
ENV = {
    "INFONCE_TEMPERATURE": ("positive", "embedding"),
    "INFONCE_USE_BATCH": ("bool", "embedding"),
    "INFONCE_HARD_NEGATIVES": ("count", "embedding"),
    "INFONCE_MASK_FAKE_NEGATIVE": ("bool", "embedding"),
    "INFONCE_FAKE_NEG_MARGIN": ("float", "embedding"),
    "INFONCE_INCLUDE_QQ": ("bool", "embedding"),
    "INFONCE_INCLUDE_DD": ("bool", "embedding"),
    "LISTWISE_RERANKER_TEMPERATURE": ("positive", "reranker"),
    "LISTWISE_RERANKER_MIN_GROUP_SIZE": ("count", "reranker"),
    "MAX_POSITIVE_SAMPLES": ("count", "reranker"),
    "MAX_NEGATIVE_SAMPLES": ("count", "reranker"),
}
_TRUE, _FALSE = ("1", "true", "yes", "on", "y", "t"), ("0", "false", "no", "off", "n", "f")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in _TRUE


def env_number(name: str, default: Any, kind: type = float) -> Any:
    value = os.environ.get(name)
    return default if value in (None, "") else kind(value)


def check_env() -> None:
    """Every variable of :data:`ENV` that is set must parse as its kind (ms-swift would fail mid-run)."""
    for name, (kind, _) in ENV.items():
        value = os.environ.get(name)
        if value is None or value == "":
            continue
        text = value.strip().lower()
        ok = True
        try:
            if kind == "bool":
                ok = text in _TRUE + _FALSE
            elif kind == "count":
                ok = int(text) >= 0
            elif kind == "positive":
                ok = float(text) > 0
            else:
                float(text)
        except ValueError:
            ok = False
        if not ok:
            wanted = {"bool": "true or false", "count": "an integer >= 0", "positive": "a number > 0"}
            raise UsageError(f"{name}={value}: must be {wanted.get(kind, 'a number')}")


def prepare_args(args: Any) -> None:
    """``swiftk sft --task_type T``: the loss (ms-swift's default for T when not given, refused when it does not
    fit T), and what these trainers cannot take."""
    task = args.task_type
    if args.command != "sft":
        raise UsageError(f"--task_type {task}: trained by `swiftk sft`, not `swiftk {args.command}`")
    default, valid = LOSSES[task]
    loss = args.get("loss_type") or default
    if loss not in valid:
        raise UsageError(f"--loss_type {loss}: does not fit --task_type {task}; valid: {', '.join(valid)}")
    args.loss_type = loss
    for flag in ("packing", "padding_free", "predict_with_generate"):
        if args.get(flag):
            raise UsageError(f"--{flag} true: not supported with --task_type {task} (one row holds several texts)")
    check_env()


def config_kwargs(args: Any) -> dict:
    """The Trainer must hand the collator the encoded columns as they are (no model-signature filtering)."""
    return {"remove_unused_columns": False}
