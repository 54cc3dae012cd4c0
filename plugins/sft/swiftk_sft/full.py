"""``--train_type full``: every parameter trains, except what the freeze arguments exclude.

Precedence as the page gives it: all trainable, then ``freeze_parameters`` (name prefixes) and
``freeze_parameters_ratio`` (the first share of the parameters, from the embeddings up) are
frozen, then ``trainable_parameters`` (prefixes) are unfrozen again.

``--train_type dummy`` (later ms-swift's extra tuner) trains what the loaded model leaves trainable, as it is: the
parameters a model folder marks frozen stay frozen (every parameter of a plain transformers model trains).
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError


def prepare_full(model: Any, args: Any) -> Any:
    params = list(model.named_parameters())
    for _, p in params:
        p.requires_grad_(True)
    frozen_prefixes = list(args.get("freeze_parameters") or [])
    ratio = float(args.get("freeze_parameters_ratio") or 0)
    if frozen_prefixes:
        _check_prefixes(params, frozen_prefixes, "--freeze_parameters")
        for name, p in params:
            if name.startswith(tuple(frozen_prefixes)):
                p.requires_grad_(False)
    if ratio > 0:
        budget = ratio * sum(p.numel() for _, p in params)
        seen = 0
        for _, p in params:
            if seen >= budget:
                break
            p.requires_grad_(False)
            seen += p.numel()
    trainable = list(args.get("trainable_parameters") or [])
    if trainable:
        _check_prefixes(params, trainable, "--trainable_parameters")
        for name, p in params:
            if name.startswith(tuple(trainable)):
                p.requires_grad_(True)
    if not any(p.requires_grad for _, p in params):
        raise UsageError(
            "--train_type full: the freeze arguments froze every parameter; "
            "set --trainable_parameters or lower --freeze_parameters_ratio"
        )
    return model


def prepare_dummy(model: Any, args: Any) -> Any:
    given = [f"--{n}" for n in ("freeze_parameters", "freeze_parameters_ratio", "trainable_parameters") if args.get(n)]
    if given:
        raise UsageError(f"{', '.join(given)}: --train_type dummy trains the model as loaded; use --train_type full")
    params = {id(p): p for p in model.parameters()}.values()
    trainable, total = sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
    if not trainable:
        raise UsageError("--train_type dummy: the loaded model has no trainable parameter; use --train_type full")
    print(f"[swiftk] dummy: trainable params: {trainable:,d} || all params: {total:,d} || "
          f"trainable%: {100 * trainable / total:.4f}", flush=True)  # fmt: skip
    return model


def _check_prefixes(params: list, prefixes: list, flag: str) -> None:
    names = [n for n, _ in params]
    for prefix in prefixes:
        if not any(n.startswith(prefix) for n in names):
            roots = sorted({n.split(".")[0] for n in names})
            raise UsageError(
                f"{flag}: no parameter name starts with '{prefix}' (names start with "
                f"{', '.join(roots)}; e.g. {names[0]})"
            )
