"""What trainers whose loss is the algorithm's own (trl's DPO, KTO, ..., GRPO; our PPO) need from
``SwiftTrainerMixin``: everything but its supervised loss, and a reference model that, for an
adapter tuner, is the base model with the adapters disabled (as in ms-swift).

Used by swift-plugin-rlhf and swift-plugin-grpo; it lives here so neither depends on the other.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Iterator

from swiftk_sft import adapter_toggle, checkpointing_toggle, plain_head
from swiftk_sft.trainer import SwiftTrainerMixin

#: arguments of ``swiftk sft`` that SwiftTrainerMixin acts on and that mean nothing to trl's trainers
_SFT_ONLY = frozenset({"metric", "loss_type", "packing", "predict_with_generate"})


class _SftOnlyHidden:
    """``swift_args`` as SwiftTrainerMixin.__init__ sees it: without the sft-only arguments."""

    def __init__(self, args: Any):
        object.__setattr__(self, "_args", args)

    def get(self, name: str, default: Any = None) -> Any:
        return default if name in _SFT_ONLY else self._args.get(name, default)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_args":
            raise AttributeError(name)
        return None if name in _SFT_ONLY else getattr(self._args, name)

    def __contains__(self, name: str) -> bool:
        return name in self._args


def columns(dataset: Any) -> set:
    """Column names, also of a streamed dataset (from its first row)."""
    names = getattr(dataset, "column_names", None)
    if names:
        return set(names)
    try:
        return set(next(iter(dataset)))
    except StopIteration:
        return set()


def count_tokens(inputs: dict) -> int:
    """Tokens of a batch: every attention mask but the prompt's (the prompt is inside the others)."""
    total = 0
    for key, value in inputs.items():
        if key.endswith("attention_mask") and not key.startswith("prompt") and hasattr(value, "sum"):
            total += int(value.sum())
    return total


class RLHFTrainerMixin:
    """Put before ``SwiftTrainerMixin``: trl computes the loss, the mixin does the rest."""

    def __init__(self, *args: Any, swift_args: Any = None, **kwargs: Any):
        super().__init__(*args, swift_args=_SftOnlyHidden(swift_args) if swift_args is not None else None, **kwargs)
        self.swift_args = swift_args
        plain_head.install_on_trainer(self)  # trl's chunked head is slow on CPU; see plain_head.py
        adapter_toggle.install(self.model)  # the reference forward's disable_adapter, without peft's walks
        checkpointing_toggle.install(self.model)  # and its checkpointing switch, without re-enabling each step

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self._tokens += count_tokens(inputs)
        # trl's loss, skipping SwiftTrainerMixin's supervised one
        return super(SwiftTrainerMixin, self).compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return super(SwiftTrainerMixin, self).prediction_step(
            model, inputs, prediction_loss_only, ignore_keys=ignore_keys
        )


@contextmanager
def frozen_ref_adapter(model: Any) -> Iterator[None]:
    """While trl's trainer is built: the "ref" adapter it copies from the trained one is added frozen
    (``inference_mode``), so tuners that allow one trainable adapter only (AdaLoRA) accept it."""
    add = getattr(model, "add_adapter", None)
    if add is None or not isinstance(getattr(model, "peft_config", None), dict):
        yield
        return

    def add_frozen(adapter_name: str, peft_config: Any, *args: Any, **kwargs: Any) -> Any:
        if adapter_name == "ref":
            peft_config = copy.copy(peft_config)
            peft_config.inference_mode = True
        return add(adapter_name, peft_config, *args, **kwargs)

    model.add_adapter = add_frozen
    try:
        yield
    finally:
        del model.add_adapter


def drop_ref_adapter(model: Any) -> None:
    """With an adapter tuner the reference is the base model, adapters disabled (as in ms-swift); trl would
    otherwise freeze a copy of the starting adapter as "ref" (which also lands in every checkpoint)."""
    peft_config = getattr(model, "peft_config", None)
    if isinstance(peft_config, dict) and "ref" in peft_config:
        model.delete_adapter("ref")
        model.set_adapter("default")
