"""trl's trainers with ``SwiftTrainerMixin`` (atomic checkpoints, ``args.json`` in every checkpoint,
logging.jsonl and curves through the registered callbacks, the end-of-run summary).

Each class is ``RLHFTrainerMixin, SwiftTrainerMixin, <trl trainer>``.  ``RLHFTrainerMixin`` keeps
the parts of ``SwiftTrainerMixin`` that are about supervised fine-tuning (its loss functions, token
accuracy, generation during evaluation, the sft ``--metric``) out of trl's way, so the mixin itself
needs no change; the data arrive pre-tokenized by our template (:mod:`swiftk_rlhf.encode`), and
each ``_prepare_dataset``/``tokenize_row`` override only lets them through.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Any, Iterator

import trl
from trl.experimental.cpo import CPOTrainer as _TrlCPOTrainer
from trl.experimental.orpo import ORPOTrainer as _TrlORPOTrainer

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

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training:
            self._tokens += count_tokens(inputs)
        # trl's loss, skipping SwiftTrainerMixin's supervised one
        return super(SwiftTrainerMixin, self).compute_loss(model, inputs, return_outputs=return_outputs,
                                                           num_items_in_batch=num_items_in_batch)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return super(SwiftTrainerMixin, self).prediction_step(model, inputs, prediction_loss_only,
                                                              ignore_keys=ignore_keys)


@contextmanager
def _frozen_ref_adapter(model: Any) -> Iterator[None]:
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


def _drop_ref_adapter(model: Any) -> None:
    """With an adapter tuner the reference is the base model, adapters disabled (as in ms-swift); trl would
    otherwise freeze a copy of the starting adapter as "ref" (which also lands in every checkpoint)."""
    peft_config = getattr(model, "peft_config", None)
    if isinstance(peft_config, dict) and "ref" in peft_config:
        model.delete_adapter("ref")
        model.set_adapter("default")


class _BaseModelAsReference:
    """For trl trainers that take a ``ref_model``: without one, the reference of an adapter tuner is the
    base model with the adapters disabled (see :func:`_drop_ref_adapter`)."""

    def __init__(self, *args: Any, model: Any = None, ref_model: Any = None, **kwargs: Any):
        with _frozen_ref_adapter(model):
            super().__init__(*args, model=model, ref_model=ref_model, **kwargs)
        if ref_model is None:
            _drop_ref_adapter(self.model)


class DPOTrainer(RLHFTrainerMixin, _BaseModelAsReference, SwiftTrainerMixin, trl.DPOTrainer):
    """``--rlhf_type dpo``."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        if "prompt_ids" in columns(dataset):
            return dataset  # encoded by our template, already within --max_length
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)


class KTOTrainer(RLHFTrainerMixin, _BaseModelAsReference, SwiftTrainerMixin, trl.KTOTrainer):
    """``--rlhf_type kto``: ``label`` rows, or preference rows split into a desirable and an undesirable one."""

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        names = columns(dataset)
        if "kto_completions" not in names:
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        dataset = dataset.map(_unpair, batched=True, remove_columns=sorted(names))
        if self.calculate_KL:
            # trl's KL estimate: each prompt with the completion of its neighbour in the same (sequential) batch
            def add_kl_completion_ids(batch: dict) -> dict:
                batch["KL_completion_ids"] = [batch["completion_ids"][-1]] + batch["completion_ids"][:-1]
                return batch

            dataset = dataset.map(add_kl_completion_ids, batched=True, batch_size=args.per_device_train_batch_size)
        return dataset


def _unpair(batch: dict) -> dict:
    out: dict = {"prompt_ids": [], "completion_ids": [], "label": []}
    for prompt, completions, labels in zip(batch["prompt_ids"], batch["kto_completions"], batch["kto_labels"]):
        for completion, label in zip(completions, labels):
            out["prompt_ids"].append(prompt)
            out["completion_ids"].append(completion)
            out["label"].append(bool(label))
    return out


class _PassEncodedRows:
    """trl's experimental CPO/ORPO tokenize rows in ``__init__``; ours arrive tokenized."""

    def tokenize_row(self, feature, model=None):
        if "chosen_input_ids" in feature:
            return feature
        return super().tokenize_row(feature, model)


class CPOTrainer(RLHFTrainerMixin, SwiftTrainerMixin, _PassEncodedRows, _TrlCPOTrainer):
    """``--rlhf_type cpo`` and ``--rlhf_type simpo`` (CPO with the simpo loss)."""


class ORPOTrainer(RLHFTrainerMixin, SwiftTrainerMixin, _PassEncodedRows, _TrlORPOTrainer):
    """``--rlhf_type orpo``."""


class RewardTrainer(RLHFTrainerMixin, SwiftTrainerMixin, trl.RewardTrainer):
    """``--rlhf_type rm``: a one-output sequence classifier trained on chosen/rejected pairs (trl reads our
    pre-tokenized ``chosen_ids``/``rejected_ids`` as they are)."""
