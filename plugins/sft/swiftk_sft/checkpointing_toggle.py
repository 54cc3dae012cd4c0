"""Gradient checkpointing switched off and on again around each reference forward, without re-enabling it.

trl's preference and RL trainers run their reference (and old-policy) forwards inside
``trl.models.utils.disable_gradient_checkpointing(model, kwargs)``: ``model.gradient_checkpointing_disable()``
before, ``model.gradient_checkpointing_enable(kwargs)`` after. With checkpointing on (the default of
``swiftk sft``/``rlhf``, as of ms-swift), that is each step a walk of every module to clear the layers' flags,
then transformers' whole enable path again: a deprecation warning each way, another walk setting each layer's
checkpoint function, and the inputs' ``requires_grad`` hook registered anew.

:func:`install` gives the model a ``gradient_checkpointing_disable`` that remembers which layers had their flag
set and clears them, and a ``gradient_checkpointing_enable`` that, right after it, sets those flags back: the
state before the disable, which is what trl's context restores. Any other enable (the Trainer's at the start
of training, a plugin's with other arguments) runs transformers' own. The layers are found once, when first
disabled: checkpointing flags belong to the architecture's blocks, which training does not add or remove.
"""

from __future__ import annotations

from typing import Any


def install(model: Any) -> bool:
    """Put the cheaper pair on ``model`` (the trainer's model: a PreTrainedModel or a PeftModel around one);
    returns whether it was put."""
    enable = getattr(model, "gradient_checkpointing_enable", None)
    disable = getattr(model, "gradient_checkpointing_disable", None)
    if enable is None or disable is None or "gradient_checkpointing_disable" in vars(model):
        return False
    state: dict = {"layers": None, "saved": None}

    def flagged_layers() -> list:
        if state["layers"] is None:
            state["layers"] = [m for m in model.modules() if hasattr(m, "gradient_checkpointing")]
        return state["layers"]

    def gradient_checkpointing_disable() -> None:
        layers = flagged_layers()
        if not layers:  # not a model transformers checkpoints: its own method says so
            disable()
            return
        state["saved"] = [layer for layer in layers if layer.gradient_checkpointing]
        for layer in state["saved"]:
            layer.gradient_checkpointing = False

    def gradient_checkpointing_enable(gradient_checkpointing_kwargs: Any = None, **kwargs: Any) -> None:
        saved, state["saved"] = state["saved"], None
        if saved is None or kwargs:
            enable(gradient_checkpointing_kwargs, **kwargs)
            return
        for layer in saved:
            layer.gradient_checkpointing = True

    gradient_checkpointing_disable.__doc__ = getattr(disable, "__doc__", None)
    gradient_checkpointing_enable.__doc__ = getattr(enable, "__doc__", None)
    model.gradient_checkpointing_disable = gradient_checkpointing_disable
    model.gradient_checkpointing_enable = gradient_checkpointing_enable
    return True
