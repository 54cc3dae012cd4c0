"""``PeftModel.disable_adapter`` without walking the model twice per reference forward.

trl's preference and RL trainers compute the reference of an adapter tuner as the base model: each step
runs its reference forward inside ``model.disable_adapter()``. peft's context first builds the model's
whole adapter status (``get_model_status``: every module, every layer's adapters and devices), only to
warn when some layers are enabled and others not, then walks every module to disable the adapter layers,
and again to enable them: on the 4M model of benchmarks/rlhf_cpu.py 8.4 ms per call (timed beside a CI
worker), twice a step.

:func:`install` gives the PeftModel a ``disable_adapter`` with the same effect on the same layers (each
``BaseTunerLayer`` and ``AuxiliaryTrainingWrapper``, toggled with their own ``enable_adapters``, which
also set the adapter weights' ``requires_grad``) from a list of those layers kept until the set of
adapters changes. On exit it re-enables the layers that were enabled before, where peft enables every
layer. Prompt-learning and adaption-prompt adapters keep peft's own context.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator


def install(model: Any) -> bool:
    """Put the cheaper ``disable_adapter`` on ``model`` (a PeftModel); returns whether it was put."""
    try:
        from peft import PeftModel
        from peft.tuners.tuners_utils import BaseTunerLayer
        from peft.utils.other import AuxiliaryTrainingWrapper
    except ImportError:
        return False
    if not isinstance(model, PeftModel) or "disable_adapter" in model.__dict__:
        return False
    config = model.active_peft_config
    if config.is_prompt_learning or config.is_adaption_prompt:
        return False
    cache: dict = {}

    def adapter_layers() -> list:
        key = tuple(model.peft_config)
        if cache.get("key") != key:
            kinds = (BaseTunerLayer, AuxiliaryTrainingWrapper)
            cache["layers"] = [module for module in model.base_model.model.modules() if isinstance(module, kinds)]
            cache["key"] = key
        return cache["layers"]

    @contextmanager
    def disable_adapter() -> Iterator[None]:
        enabled = [layer for layer in adapter_layers() if not layer.disable_adapters]
        was_disabled = model._adapters_disabled
        try:
            for layer in enabled:
                layer.enable_adapters(False)
            model._adapters_disabled = True
            yield
        finally:
            for layer in enabled:
                layer.enable_adapters(True)
            model._adapters_disabled = was_disabled

    disable_adapter.__doc__ = type(model).disable_adapter.__doc__
    model.disable_adapter = disable_adapter
    return True
