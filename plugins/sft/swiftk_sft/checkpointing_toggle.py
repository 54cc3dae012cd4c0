"""Gradient checkpointing switched off and on again around each reference forward, without re-enabling it.

trl's preference and RL trainers run their reference (and old-policy) forwards inside
``trl.models.utils.disable_gradient_checkpointing(model, kwargs)``: ``model.gradient_checkpointing_disable()``
before, ``model.gradient_checkpointing_enable(kwargs)`` after. With checkpointing on (the default of
``swiftk sft``/``rlhf``, as of ms-swift), that is each step a walk of every module to clear the layers' flags,
then transformers' whole enable path again: a deprecation warning each way, another walk setting each layer's
checkpoint function, and the inputs' ``requires_grad`` hook registered anew (2.4 ms a pair on the 4M LoRA model
of benchmarks/rlhf_cpu.py, against 0.04 ms).

:func:`install` gives the model a ``gradient_checkpointing_disable`` that remembers which layers had their flag
set and clears them, and a ``gradient_checkpointing_enable`` that, right after it and with the keyword arguments
the layers were last enabled with, sets those flags back: the state before the disable, which is what trl's
context means to restore (transformers' enable would also checkpoint layers that were left out on purpose, such
as a vision tower under ``--vit_gradient_checkpointing false``). Any other enable (the Trainer's at the start of
training, one with other arguments, one after a disable that found nothing checkpointed) runs transformers' own.
The layers are found once, when first disabled: checkpointing flags belong to the architecture's blocks, which
training does not add or remove. The switch is an object, not closures, so that a deep copy of the model gets
a switch of its own.
"""

from __future__ import annotations

from typing import Any, Optional

_UNKNOWN = object()


class CheckpointingSwitch:
    """The pair of methods :func:`install` puts on one model."""

    def __init__(self, model: Any, enable: Any, disable: Any):
        self.model = model
        self.enable = enable
        self.disable = disable
        self.layers: Optional[list] = None
        self.saved: Optional[list] = None
        self.enabled_with: Any = _UNKNOWN  # the kwargs of the last enable that went through transformers

    def flagged_layers(self) -> list:
        if self.layers is None:
            self.layers = [m for m in self.model.modules() if hasattr(m, "gradient_checkpointing")]
        return self.layers

    def gradient_checkpointing_disable(self) -> None:
        layers = self.flagged_layers()
        if not layers:  # not a model transformers checkpoints: its own method says so
            self.disable()
            return
        self.saved = [layer for layer in layers if layer.gradient_checkpointing] or None
        for layer in self.saved or ():
            layer.gradient_checkpointing = False

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: Any = None, **kwargs: Any) -> None:
        saved, self.saved = self.saved, None
        if saved is None or kwargs or gradient_checkpointing_kwargs != self.enabled_with:
            self.enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs, **kwargs)
            self.enabled_with = gradient_checkpointing_kwargs if not kwargs else _UNKNOWN
            return
        for layer in saved:
            layer.gradient_checkpointing = True


def install(model: Any) -> bool:
    """Put the cheaper pair on ``model`` (the trainer's model: a PreTrainedModel or a PeftModel around one);
    returns whether it was put."""
    enable = getattr(model, "gradient_checkpointing_enable", None)
    disable = getattr(model, "gradient_checkpointing_disable", None)
    if enable is None or disable is None or "gradient_checkpointing_disable" in vars(model):
        return False
    switch = CheckpointingSwitch(model, enable, disable)
    model.gradient_checkpointing_disable = switch.gradient_checkpointing_disable
    model.gradient_checkpointing_enable = switch.gradient_checkpointing_enable
    return True
