"""The trainer behind ``swiftk sft``/``pt``: transformers' Seq2SeqTrainer plus what ms-swift adds.

:class:`SwiftTrainerMixin` is shared by every trainer of the project (RLHF and GRPO mix it into
trl's trainers): atomic checkpoints with ``args.json``, the registered ``--loss_type`` and
``--metric``, token accuracy in the logs, the loss in the progress bar, and an end-of-run
summary with the best and last checkpoints, train time, tokens/s and peak memory.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import resource
import shutil
import time
from typing import Any, Optional

import torch
from transformers import Seq2SeqTrainer as _HFSeq2SeqTrainer
from transformers.trainer_callback import ProgressCallback

from swiftk.api import UsageError
from swiftk_sft import checkpoint as ckpt
from swiftk_sft.losses import cross_entropy, loss_scale_cross_entropy

#: loss_scale strategies whose weights are all 1 on the trained tokens (the model's own loss serves)
_UNIFORM_LOSS_SCALES = {"default", "last_round", "all"}

#: losses of this plugin that sum over tokens, so one row holding every sample of the batch is fine
_TOKEN_LOSSES = (cross_entropy, loss_scale_cross_entropy)
#: outputs of vision/audio-language models that evaluation never gathers: transformers 5 returns each tower's whole
#: output there (MultimodalModelOutput.image_outputs: a ModelOutput whose hidden_states hold None for LLaVA), which
#: the eval loop's padding across processes cannot take; older classes name them *_hidden_states
_MEDIA_OUTPUTS = ("image_outputs", "video_outputs", "audio_outputs")
_MEDIA_OUTPUTS += ("image_hidden_states", "video_hidden_states", "audio_hidden_states")


class SwiftTrainerMixin:
    """Mixed in before a ``transformers.Trainer`` subclass; takes ``template=`` and ``swift_args=``."""

    #: files of the run folder copied into each checkpoint as it is published (so a checkpoint reproduces its run)
    run_files_in_checkpoints: tuple[str, ...] = ("args.json",)

    def __init__(self, *args: Any, template: Any = None, swift_args: Any = None, **kwargs: Any):
        self.template = template
        self.swift_args = swift_args
        from swiftk.api import get_host

        host = get_host()
        if swift_args is not None and swift_args.get("packing") and "train_dataset" in kwargs:
            from swiftk_sft.packing import PackedCollator, pack_dataset

            kwargs["train_dataset"] = pack_dataset(kwargs["train_dataset"], swift_args.get("max_length"))
            if kwargs.get("eval_dataset") is not None:
                kwargs["eval_dataset"] = pack_dataset(kwargs["eval_dataset"], swift_args.get("max_length"))
            tokenizer = getattr(kwargs.get("processing_class"), "tokenizer", kwargs.get("processing_class"))
            kwargs["data_collator"] = PackedCollator(
                tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
            )
        metric = swift_args.get("metric") if swift_args is not None else None
        if metric and kwargs.get("compute_metrics") is None and kwargs.get("eval_dataset") is not None:
            tokenizer = getattr(kwargs.get("processing_class"), "tokenizer", kwargs.get("processing_class"))
            kwargs["compute_metrics"] = host.get("metrics", metric)(swift_args, tokenizer)
            if not swift_args.get("predict_with_generate"):
                kwargs.setdefault("preprocess_logits_for_metrics", _argmax_logits)
        loss_type = swift_args.get("loss_type") if swift_args is not None else None
        self._loss_fn = host.get("losses", loss_type) if loss_type else None
        loss_scale = swift_args.get("loss_scale") if swift_args is not None else None
        if self._loss_fn is None and loss_scale and loss_scale not in _UNIFORM_LOSS_SCALES:
            from swiftk_sft.losses import loss_scale_cross_entropy

            self._loss_fn = loss_scale_cross_entropy
        if swift_args is not None and "enable_dft_loss" in swift_args and swift_args.get("enable_dft_loss"):
            from swiftk_sft.losses import cross_entropy, dft

            base = self._loss_fn or cross_entropy
            if base not in _TOKEN_LOSSES:
                raise UsageError(
                    f"--enable_dft_loss weights the token cross entropy; --loss_type {loss_type} is another loss"
                )
            self._loss_fn = dft(base)
        super().__init__(*args, **kwargs)
        config = getattr(self.model, "config", None)
        if config is not None:
            config.use_cache = False  # no KV cache in training (packing relies on it)
        from swiftk_sft.router_aux import configure

        self._router_aux_coef = configure(self.model, swift_args)
        self._acc = [0, 0]
        self._tokens = 0
        # batches without an attention mask (packed rows): padding is the tokenizer's pad id, as transformers'
        # include_num_input_tokens_seen="non_padding" counts it (what trl's tokens/s counts)
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        self._pad_token_id = getattr(tokenizer, "pad_token_id", None)
        if self._pad_token_id is None and swift_args is not None and swift_args.get("packing"):
            self._pad_token_id = 0  # what PackedCollator pads with
        self._train_start: Optional[float] = None
        self._train_end: Optional[float] = None
        #: the signal that ended training early with a checkpoint (--enable_jit_checkpoint), None otherwise
        self.interrupted_by: Optional[str] = None
        if self.args.should_save:
            from swiftk.api import hold_run_lock

            hold_run_lock(self.args.output_dir)  # before cleaning: a live run's .staging is never touched
            ckpt.clean_stale(self.args.output_dir)
        for callback in self.callback_handler.callbacks:
            manager = getattr(callback, "jit_manager", None)  # transformers' JITCheckpointCallback
            if manager is not None:
                manager.execute_jit_checkpoint = functools.partial(self._jit_stop, manager)

    # -- a registered optimizer (--optimizer NAME, or one a tuner plugin chose) ------------------
    def create_optimizer(self, model=None):
        name = self.swift_args.get("optimizer") if self.swift_args is not None else None
        if name and self.optimizer is None:
            from swiftk.api import get_host

            optimizer, scheduler = get_host().get("optimizers", name)(self.swift_args, self.model, self.train_dataset)
            if optimizer is not None:
                self.optimizer = optimizer
                if scheduler is not None:
                    self.lr_scheduler = scheduler
                return self.optimizer
        return super().create_optimizer(model)

    # -- loss and logged accuracy -------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss_scale = inputs.pop("loss_scale", None)
        labels = inputs.get("labels")
        if model.training:
            self._tokens += self._count_tokens(inputs)
        if self._loss_fn is not None and labels is not None:
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            loss = self._loss_fn(outputs, labels, loss_scale=loss_scale, num_items_in_batch=num_items_in_batch)
            if self._router_aux_coef:
                from swiftk_sft.router_aux import add_aux_loss

                loss = add_aux_loss(loss, outputs, self._router_aux_coef, labels, num_items_in_batch)
            loss = self._scale_across_devices(loss, num_items_in_batch)
            self.loss_is_scaled_for_ga = num_items_in_batch is not None
        else:
            loss, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
            self.loss_is_scaled_for_ga = None
        if model.training and labels is not None and labels.dim() == 2 and not labels.is_floating_point():
            # token labels (a multi-label classifier's rows of 0/1 floats are no tokens)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
            with torch.no_grad():
                preds = logits[:, :-1].argmax(-1)
                target = labels[:, 1:]
                mask = target != -100
                self._acc[0] += int(((preds == target) & mask).sum())
                self._acc[1] += int(mask.sum())
        return (loss, outputs) if return_outputs else loss

    def _scale_across_devices(self, loss: torch.Tensor, num_items_in_batch: Any) -> torch.Tensor:
        """What transformers' compute_loss does to a loss divided by the token count of every rank's batch.

        That count is summed over the ranks, and DistributedDataParallel averages the gradients over them:
        the loss is multiplied by the number of ranks so that the two cancel.
        """
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            return loss * (self.accelerator.num_processes // self.get_tp_size())
        return loss

    def _count_tokens(self, inputs: dict) -> int:
        """Non-padding input tokens of a training batch (the numerator of tokens/s)."""
        if "cu_seq_lens_q" in inputs:  # a padding-free row
            return int(inputs["input_ids"].numel())
        mask = inputs.get("attention_mask")
        if mask is not None:
            return int(mask.sum())
        ids = inputs["input_ids"]
        if self._pad_token_id is not None:
            return int((ids != self._pad_token_id).sum())
        return int(ids.numel())

    def log(self, logs: dict, *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._acc[1]:
            logs["token_acc"] = round(self._acc[0] / self._acc[1], 4)
            self._acc = [0, 0]
        super().log(logs, *args, **kwargs)
        if "loss" in logs:
            for callback in self.callback_handler.callbacks:
                bar = getattr(callback, "training_bar", None)
                if isinstance(callback, ProgressCallback) and bar is not None:
                    bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def train(self, *args: Any, **kwargs: Any):
        self._train_start, self._train_end = time.time(), None
        try:
            return super().train(*args, **kwargs)
        except BaseException:
            for callback in self.callback_handler.callbacks:  # so that the error's line starts a line of its own
                bar = getattr(callback, "training_bar", None)
                if isinstance(callback, ProgressCallback) and bar is not None:
                    bar.close()
            raise
        finally:
            self._train_end = time.time()

    # -- atomic checkpoints -----------------------------------------------------------------
    def _get_output_dir(self, trial):
        run_dir = super()._get_output_dir(trial)
        return ckpt.staging_dir(run_dir) if getattr(self, "_staging", False) else run_dir

    def _save_checkpoint(self, model, trial):
        run_dir = super()._get_output_dir(trial)
        name = f"checkpoint-{self.state.global_step}"
        staged = os.path.join(ckpt.staging_dir(run_dir), name)
        final = os.path.join(run_dir, name)
        self._staging = True
        try:
            super()._save_checkpoint(model, trial)  # writes run_dir/.staging/checkpoint-N
            if self.args.should_save:
                self._complete_staged(run_dir, staged)
        except BaseException as exc:
            # a failed or interrupted save: the last published checkpoint stays, the partial one goes
            full = self.args.should_save and ckpt.disk_full(exc, staged)
            if self.args.should_save:
                ckpt.discard(staged)
            if full:
                last = ckpt.checkpoints(run_dir)
                hint = f" (the last complete checkpoint is {last[-1]})" if last else ""
                raise OSError(errno.ENOSPC, f"no space left on device{hint}", final) from exc
            raise
        finally:
            self._staging = False
        self._saved_step = self.state.global_step
        if not self.args.should_save:
            return
        ckpt.publish(staged, final)
        ckpt.rotate(run_dir, self.args.save_total_limit, self.state.best_model_checkpoint)

    def _complete_staged(self, run_dir: str, staged: str) -> None:
        """The best checkpoint as it is in run_dir (transformers looked in the staging folder), and the run files."""
        if self.state.best_global_step:
            best = os.path.join(run_dir, f"checkpoint-{self.state.best_global_step}")
            if self.state.best_global_step == self.state.global_step or os.path.isdir(best):
                self.state.best_model_checkpoint = best
                self.state.save_to_json(os.path.join(staged, "trainer_state.json"))
        for name in self.run_files_in_checkpoints:
            path = os.path.join(run_dir, name)
            if os.path.isfile(path):
                shutil.copy2(path, os.path.join(staged, name))

    def _jit_stop(self, manager: Any) -> None:
        """``--enable_jit_checkpoint`` after SIGTERM: training stops after the current step, and :meth:`finish`
        saves the final checkpoint (the run then exits with 128 + SIGTERM).

        transformers' own JIT save first makes ``output_dir/checkpoint-N`` holding only an "incomplete" marker
        (which a kill would leave behind), and may save in the middle of a step, to save again at its end.
        """
        manager.is_checkpoint_requested = False
        self.interrupted_by = "SIGTERM"

    # -- generation during evaluation (predict_with_generate) --------------------------------
    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None, **gen_kwargs):
        if not (self.swift_args is not None and self.swift_args.get("predict_with_generate")) or prediction_loss_only:
            inputs = {k: v for k, v in inputs.items() if k != "loss_scale"}
            if ignore_keys is None:  # transformers' default, and the media towers' outputs
                config = getattr(self.model, "config", None)
                ignore_keys = list(getattr(config, "keys_to_ignore_at_inference", None) or ["cache"])
                ignore_keys += list(_MEDIA_OUTPUTS)
            return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)
        prompts, answers = _split_prompts(inputs["input_ids"], inputs["labels"])
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=inputs["input_ids"].device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=ids.device)
        temperature = float(self.swift_args.get("temperature") or 0)
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=self.swift_args.get("max_new_tokens") or 64,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                pad_token_id=pad,
                use_cache=True,
            )
        generated = out[:, width:]
        labels = _pad_rows(answers, -100, generated.device)
        return None, generated, labels

    # -- the end of a run ---------------------------------------------------------------------
    def finish(self, output_dir: Optional[str] = None) -> str:
        """Save the final checkpoint if the last step was not saved, link ``best``/``last``, report."""
        output_dir = output_dir or self.args.output_dir
        last = os.path.join(output_dir, f"checkpoint-{self.state.global_step}")
        # every rank decides alike (rank 0 may already have published the folder that another rank looks for):
        # under FSDP and ZeRO-3 a save is a collective that every rank must enter
        if getattr(self, "_saved_step", None) != self.state.global_step and not os.path.isdir(last):
            self._save_checkpoint(self.model, trial=None)
        if not self.args.should_save:
            return last
        best = self.state.best_model_checkpoint or last
        if self.swift_args is not None and self.swift_args.get("create_checkpoint_symlink"):
            ckpt.make_symlink(output_dir, "last", last)
            ckpt.make_symlink(output_dir, "best", best)
        # the span of train(), as benchmarks/sft_cpu.py times trl's: not the final save above
        end = self._train_end or time.time()
        seconds = end - (self._train_start or end)
        summary = {
            "status": f"interrupted by {self.interrupted_by}" if self.interrupted_by else "completed",
            "last_model_checkpoint": last,
            "best_model_checkpoint": best,
            "train_runtime_s": round(seconds, 2),
            "global_step": self.state.global_step,
            "train_tokens_per_s": round(self._tokens / seconds, 1) if seconds > 0 else None,
            "peak_memory_mib": round(_peak_memory_mib(), 1),
        }
        from swiftk.api import atomic_write_text

        atomic_write_text(os.path.join(output_dir, "run_summary.json"), json.dumps(summary, indent=2) + "\n")
        for key, value in summary.items():
            print(f"[swiftk] {key}: {value}")
        return last


def _argmax_logits(logits: Any, labels: Any) -> Any:
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(-1)


def _split_prompts(input_ids: torch.Tensor, labels: torch.Tensor) -> tuple[list[list[int]], list[list[int]]]:
    """Prompt = tokens before the first labelled one; answer = the labelled tokens."""
    prompts, answers = [], []
    for ids, lab in zip(input_ids.tolist(), labels.tolist()):
        first = next((i for i, t in enumerate(lab) if t != -100), len(lab))
        prompts.append(ids[:first])
        answers.append([t for t in lab[first:] if t != -100])
    return prompts, answers


def _pad_rows(rows: list[list[int]], value: int, device: Any) -> torch.Tensor:
    width = max((len(r) for r in rows), default=0)
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], device=device)


def _takes_logits_to_keep(model: Any) -> bool:
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def _labelled_positions_loss(
    model: Any, inputs: dict, labels: torch.Tensor, num_items_in_batch: Any
) -> tuple[torch.Tensor, int, int]:
    """Cross entropy of a one-row batch from the logits of the positions that predict a label only.

    The language-model head and the softmax then run on the answer tokens, not the prompts (on a real
    vocabulary of 10^5 tokens, most of the head's time and of the logits' memory). The loss is the
    model's own: summed over the labelled tokens, divided by ``num_items_in_batch`` when the trainer
    counts them over the accumulated batch, else averaged. Returns the loss, and the correctly
    predicted and counted tokens (token accuracy).
    """
    target = labels[0, 1:]
    keep = (target != -100).nonzero().flatten()
    outputs = model(**inputs, logits_to_keep=keep)
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    logits = logits[0].float()
    wanted = target[keep]
    summed = torch.nn.functional.cross_entropy(logits, wanted, reduction="sum")
    if num_items_in_batch is not None:
        loss = summed / (
            num_items_in_batch.to(summed.device) if torch.is_tensor(num_items_in_batch) else num_items_in_batch
        )
    else:
        loss = summed / max(int(keep.numel()), 1)
    with torch.no_grad():
        correct = int((logits.argmax(-1) == wanted).sum())
    return loss, correct, int(keep.numel())


def _peak_memory_mib() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Seq2SeqTrainer(SwiftTrainerMixin, _HFSeq2SeqTrainer):
    """``swiftk sft``/``pt``'s trainer: padding-free training batches where the model allows them."""

    _flops_parameters: Optional[int] = None

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._flat_collator = None
        self._labelled_logits = False
        if self.swift_args is None or self.train_dataset is None:
            return
        from swiftk_sft import padding_free

        wanted = self.swift_args.get("padding_free")
        reason = padding_free.why_not(self.model, self.swift_args, self.train_dataset)
        if reason is None and self.args.n_gpu > 1:
            reason = f"DataParallel over {self.args.n_gpu} GPUs (it splits batches by rows)"
        token_loss = self._loss_fn in _TOKEN_LOSSES or getattr(self._loss_fn, "dft_of", None) in _TOKEN_LOSSES
        if reason is None and self._loss_fn is not None and not token_loss:
            reason = f"--loss_type {self.swift_args.get('loss_type')} (a plugin's loss may need one row per sample)"
        if wanted is False:
            reason = "--padding_free false"
        elif wanted and reason is not None:
            raise UsageError(f"--padding_free true: this run's batches cannot be padding-free: {reason}")
        if self.args.should_log:
            print(f"[swiftk] training batches: {'padding-free' if reason is None else 'padded, ' + reason}", flush=True)
        keep = self.swift_args.get("use_logits_to_keep") if "use_logits_to_keep" in self.swift_args else None
        if keep and reason is not None:
            raise UsageError(
                f"--use_logits_to_keep true: it runs on padding-free batches, and these are padded: {reason}"
            )
        if reason is not None:
            return
        padding_free.enable(self.model)
        self._flat_collator = padding_free.FlatCollator()
        # the loss from the labelled positions' logits only: no custom loss, no label smoothing, no liger (its fused
        # head and loss need the labels), and a model that takes transformers' logits_to_keep as positions
        self._labelled_logits = (
            self._loss_fn is None
            and not self._router_aux_coef  # the model adds its router's loss itself when it gets the labels
            and self.label_smoother is None
            and self.compute_loss_func is None
            and not self.args.use_liger_kernel
            and _takes_logits_to_keep(self.model)
            and keep is not False
        )
        if keep and not self._labelled_logits:
            raise UsageError(
                "--use_logits_to_keep true: this run computes its loss from every position's logits (a custom "
                "--loss_type, label smoothing, liger, the router's loss, or a model without logits_to_keep)"
            )

    def get_train_dataloader(self):
        if self._flat_collator is None:
            return super().get_train_dataloader()
        collator, self.data_collator = self.data_collator, self._flat_collator
        try:
            return super().get_train_dataloader()
        finally:
            self.data_collator = collator

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not (self._labelled_logits and model.training and "cu_seq_lens_q" in inputs and not return_outputs):
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )
        inputs = {k: v for k, v in inputs.items() if k != "loss_scale"}  # uniform scales (else _loss_fn is set)
        labels = inputs.pop("labels")
        self._tokens += int(labels.numel())
        loss, correct, counted = _labelled_positions_loss(model, inputs, labels, num_items_in_batch)
        self._acc[0] += correct
        self._acc[1] += counted
        self.loss_is_scaled_for_ga = num_items_in_batch is not None
        return self._scale_across_devices(loss, num_items_in_batch)

    def floating_point_ops(self, inputs: dict) -> int:
        """transformers' estimate (6 · tokens · non-embedding parameters), the parameter count taken once.

        transformers recounts the parameters at every step (a walk over every module, the more with LoRA).
        """
        main_input = getattr(self.model, "main_input_name", "input_ids")
        if main_input not in inputs or not hasattr(self.model, "num_parameters"):
            return 0
        if self._flops_parameters is None:
            self._flops_parameters = self.model.num_parameters(exclude_embeddings=True)
        return 6 * inputs[main_input].numel() * self._flops_parameters
