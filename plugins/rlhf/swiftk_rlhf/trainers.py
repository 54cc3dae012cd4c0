"""trl's trainers with ``SwiftTrainerMixin`` (atomic checkpoints, ``args.json`` in every checkpoint,
logging.jsonl and curves through the registered callbacks, the end-of-run summary).

Each class is ``RLHFTrainerMixin, SwiftTrainerMixin, <trl trainer>``.  ``RLHFTrainerMixin``
(:mod:`swiftk_sft.rl_trainer`, shared with GRPO) keeps
the parts of ``SwiftTrainerMixin`` that are about supervised fine-tuning (its loss functions, token
accuracy, generation during evaluation, the sft ``--metric``) out of trl's way, so the mixin itself
needs no change; the data arrive pre-tokenized by our template (:mod:`swiftk_rlhf.encode`), and
each ``_prepare_dataset``/``tokenize_row`` override only lets them through.
"""

from __future__ import annotations

from typing import Any

import trl
from trl.experimental.cpo import CPOTrainer as _TrlCPOTrainer
from trl.experimental.orpo import ORPOTrainer as _TrlORPOTrainer

from swiftk_rlhf import packed_rewards
from swiftk_rlhf.media import MEDIA_COLUMN, MediaPreferenceCollator
from swiftk_sft.rl_trainer import RLHFTrainerMixin, columns, drop_ref_adapter, frozen_ref_adapter
from swiftk_sft.trainer import SwiftTrainerMixin

__all__ = ["RLHFTrainerMixin", "DPOTrainer", "KTOTrainer", "CPOTrainer", "ORPOTrainer", "RewardTrainer"]


class _BaseModelAsReference:
    """For trl trainers that take a ``ref_model``: without one, the reference of an adapter tuner is the
    base model with the adapters disabled (see :func:`swiftk_sft.rl_trainer.drop_ref_adapter`)."""

    def __init__(self, *args: Any, model: Any = None, ref_model: Any = None, **kwargs: Any):
        with frozen_ref_adapter(model):
            super().__init__(*args, model=model, ref_model=ref_model, **kwargs)
        if ref_model is None:
            drop_ref_adapter(self.model)


class DPOTrainer(RLHFTrainerMixin, _BaseModelAsReference, SwiftTrainerMixin, trl.DPOTrainer):
    """``--rlhf_type dpo``; pairs with images carry their media columns (:mod:`swiftk_rlhf.media`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._with_media = MEDIA_COLUMN in columns(self.train_dataset)
        if self._with_media:
            self.data_collator = MediaPreferenceCollator(self.data_collator)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if getattr(self, "_with_media", False) and MEDIA_COLUMN not in self._signature_columns:
            self._signature_columns = list(self._signature_columns) + [MEDIA_COLUMN]

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
    pre-tokenized ``chosen_ids``/``rejected_ids`` as they are); the classifier runs without the batch's
    padding where it can (:mod:`swiftk_rlhf.packed_rewards`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        packed_rewards.install(self.model)
