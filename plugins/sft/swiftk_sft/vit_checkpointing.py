"""``--vit_gradient_checkpointing`` (later ms-swift): the vision tower of a multimodal model checkpointed or not,
apart from ``--gradient_checkpointing``, which then covers the language model (and the aligner) only.

Unset, the tower follows ``--gradient_checkpointing``: the Trainer checkpoints the whole model or none of it, and
nothing here runs.  Set to the other value, it is done as ms-swift's ``_prepare_gradient_checkpointing`` does it,
before training: with ``--gradient_checkpointing true`` the whole model is checkpointed as the Trainer would, then
the tower's layers are set back, and the Trainer's own switch is turned off so that it does not checkpoint them
again when training starts; with ``--gradient_checkpointing false`` only the tower's layers are checkpointed.  The
tower is what the model type names in ``ModelMeta.extra["model_arch"]["vision_tower"]`` (module-name prefixes);
a text-only model has none, and the value has no effect there (as in ms-swift).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Optional

logger = logging.getLogger("swiftk.sft")

#: the training arguments' switches: transformers 5's name and its deprecated alias (the only one before 5)
_SWITCHES = (("activation_checkpointing", "activation_checkpointing_kwargs"), ("gradient_checkpointing", "gradient_checkpointing_kwargs"))  # fmt: skip


def vision_towers(model: Any) -> list:
    """``[(name, module)]`` of the vision tower(s) the model type names, as found in ``model``."""
    meta = getattr(model, "model_meta", None)
    arch = (getattr(meta, "extra", None) or {}).get("model_arch") if meta is not None else None
    prefixes = arch.get("vision_tower") or [] if isinstance(arch, dict) else []
    prefixes = [prefixes] if isinstance(prefixes, str) else list(prefixes)
    found = []
    for prefix in prefixes:
        for candidate in (prefix, prefix.split(".", 1)[-1]):  # transformers 5 nests the parts under .model
            try:
                found.append((candidate, model.get_submodule(candidate)))
                break
            except AttributeError:
                continue
    return found


def _checkpointing_kwargs(training_args: Any) -> dict:
    for switch, kwargs_name in _SWITCHES:
        if hasattr(training_args, switch):
            value = getattr(training_args, kwargs_name, None)
            if value:
                return dict(value)
    return {}


def _enable_everywhere(model: Any, kwargs: dict) -> None:
    """What the Trainer does with ``--gradient_checkpointing true`` (transformers 5's method, else the old one)."""
    every_n_layers = kwargs.pop("every_n_layers", None)
    offload = kwargs.pop("offload", None)
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        extra = {k: v for k, v in (("every_n_layers", every_n_layers), ("offload", offload)) if v is not None}
        enable(activation_checkpointing_kwargs=kwargs or None, **extra)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs or None)


def set_checkpointing(module: Any, enable: bool, kwargs: Optional[dict] = None) -> int:
    """Turn checkpointing of every layer of ``module`` on or off; returns how many modules have the switch."""
    import torch.utils.checkpoint

    func = functools.partial(torch.utils.checkpoint.checkpoint, **({"use_reentrant": False} | dict(kwargs or {})))
    count = 0
    for sub in module.modules():
        if hasattr(sub, "gradient_checkpointing"):
            if enable:
                sub._gradient_checkpointing_func = func
            sub.gradient_checkpointing = enable
            count += 1
    return count


def apply_vit_gradient_checkpointing(args: Any, trainer: Any) -> None:
    vit = args.get("vit_gradient_checkpointing")
    everywhere = bool(args.get("gradient_checkpointing"))
    if vit is None or bool(vit) == everywhere:
        return  # the Trainer checkpoints every part or none, as --gradient_checkpointing says
    model = trainer.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    meta = getattr(base, "model_meta", None)
    if meta is None or not getattr(meta, "is_multimodal", False):
        return  # a text-only model: no vision tower (ms-swift, too, leaves it as --gradient_checkpointing says)
    towers = vision_towers(base)
    if not towers:
        logger.warning(
            "--vit_gradient_checkpointing %s: model type %s names no vision tower (ModelMeta.extra['model_arch']); "
            "the whole model follows --gradient_checkpointing %s",
            str(bool(vit)).lower(),
            getattr(meta, "model_type", "?"),
            str(everywhere).lower(),
        )
        return
    training_args = trainer.args
    kwargs = _checkpointing_kwargs(training_args)
    if everywhere:  # the whole model as the Trainer would, then the tower set back; the Trainer not again
        _enable_everywhere(model, dict(kwargs))
        for _, tower in towers:
            set_checkpointing(tower, False)
        for switch, _ in _SWITCHES:
            if hasattr(training_args, switch):
                setattr(training_args, switch, False)
    else:
        for _, tower in towers:
            kwargs.pop("every_n_layers", None)
            kwargs.pop("offload", None)
            set_checkpointing(tower, True, kwargs)
            enable_grads = getattr(tower, "enable_input_require_grads", None)
            if enable_grads is not None and _reentrant(kwargs):
                try:  # a reentrant checkpoint passes gradients only to inputs that require them
                    enable_grads()
                except (NotImplementedError, AttributeError) as exc:
                    logger.warning("--vit_gradient_checkpointing: %s", exc)
    logger.info(
        "gradient checkpointing: the vision tower (%s) %s, the language model %s",
        ", ".join(name for name, _ in towers),
        "on" if vit else "off",
        "on" if everywhere else "off",
    )


def _reentrant(kwargs: dict) -> bool:
    return bool(kwargs.get("use_reentrant", False))
