"""The trainer of ``swiftk sft --task_type embedding | reranker | generative_reranker``: swift-plugin-sft's
checkpointing and reporting (:class:`SwiftTrainerMixin`) on ``transformers.Trainer``, with a loss over
several texts per row instead of tokens (:mod:`swiftk_embedding.forward`, :mod:`swiftk_embedding.losses`)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import Trainer

from swiftk_embedding import forward
from swiftk_embedding.data import Collator
from swiftk_sft.trainer import SwiftTrainerMixin


class EmbeddingTrainer(SwiftTrainerMixin, Trainer):
    """One trainer for the three task types; ``swift_args.task_type`` says which output the loss reads."""

    def __init__(self, *args: Any, **kwargs: Any):
        swift_args = kwargs["swift_args"]
        self.task = swift_args.task_type
        processor = kwargs.get("processing_class")
        tokenizer = getattr(processor, "tokenizer", processor)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        kwargs["data_collator"] = Collator(self.task, pad_id, swift_args.get("padding_side") or "right")
        kwargs.pop("compute_metrics", None)
        self._tokens_yes_no = forward.yes_no_ids(tokenizer) if self.task == "generative_reranker" else None
        super().__init__(*args, **kwargs)
        self.label_names = ["labels"]
        from swiftk_embedding.metrics import for_run

        self.compute_metrics = for_run(self.task, swift_args.loss_type)  # not the token metric of --metric
        self.preprocess_logits_for_metrics = None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        if model.training:
            self._tokens += int(inputs["attention_mask"].sum())
        outputs = forward.outputs(model, self.task, inputs, self._tokens_yes_no)
        loss = self._loss_fn(outputs, labels.to(next(iter(outputs.values())).device))
        self.loss_is_scaled_for_ga = False  # a mean over the batch: the Trainer divides by the accumulation steps
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        labels = inputs["labels"]
        with torch.no_grad():
            loss, outputs = self.compute_loss(model, dict(inputs), return_outputs=True)
        if prediction_loss_only:
            return loss.detach(), None, None
        return loss.detach(), next(iter(outputs.values())).detach(), labels
