"""``--rlhf_type gkd``: trl's GKDTrainer (generalized knowledge distillation, Agarwal et al. 2024) with
``SwiftTrainerMixin``.

Each step trains the student to match the teacher's next-token distributions (the generalized JSD of
``--beta``) on answers that are, with probability ``--lmbda``, sampled from the student itself
(on-policy); otherwise the teacher's sampled answers with ``--seq_kd true``, else the dataset's.  Sampling
uses ``--temperature`` and at most ``--max_completion_length`` new tokens.

Which answers a step trains on is drawn as ms-swift draws it (``random.Random(seed + global_step)``: the
same for every micro-batch of a step, reproducible, apart from the global random state); the log reports
the shares as ``answers/student``, ``answers/teacher`` and ``answers/dataset``.

Rows are ms-swift's messages, encoded by the run's template (:func:`gkd_encoder`): the whole
conversation with its labels, and the prompt (everything before the last answer) that sampling continues;
:class:`GKDCollator` pads conversations on the right and prompts on the left (for ``generate``).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import torch
from trl.experimental.gkd import GKDTrainer as _TrlGKDTrainer

from swiftk_rlhf.encode import split_completion
from swiftk_rlhf.media import media_of
from swiftk_rlhf.reward_model import causal_template
from swiftk_rlhf.teacher import load_teacher
from swiftk_sft.rl_trainer import RLHFTrainerMixin
from swiftk_sft.trainer import SwiftTrainerMixin


def gkd_encoder(template: Any, args: Any, dataset: Any):
    """messages → ``input_ids``/``labels`` of the conversation and ``prompt_ids`` (before the last answer)."""
    template = causal_template(template)

    def encode(row: dict) -> dict:
        encoded = template.encode(row)
        prompt, _ = split_completion(encoded)
        if media_of(encoded, len(prompt)):
            raise ValueError("rows with images, videos or audio are not supported by --rlhf_type gkd")
        return {"input_ids": list(encoded["input_ids"]), "labels": list(encoded["labels"]), "prompt_ids": prompt}

    return encode


class GKDCollator:
    """Conversations right-padded (``input_ids``, ``attention_mask``, ``labels``); prompts left-padded
    (``prompts``, ``prompt_attention_mask``), as trl's GKDTrainer generates from them."""

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        prompt_width = max(len(r["prompt_ids"]) for r in rows)
        out: dict[str, list] = {k: [] for k in ("input_ids", "attention_mask", "labels", "prompts")}
        out["prompt_attention_mask"] = []
        for r in rows:
            n, gap = len(r["input_ids"]), width - len(r["input_ids"])
            out["input_ids"].append(list(r["input_ids"]) + [self.pad] * gap)
            out["attention_mask"].append([1] * n + [0] * gap)
            out["labels"].append(list(r["labels"]) + [-100] * gap)
            p, pgap = len(r["prompt_ids"]), prompt_width - len(r["prompt_ids"])
            out["prompts"].append([self.pad] * pgap + list(r["prompt_ids"]))
            out["prompt_attention_mask"].append([0] * pgap + [1] * p)
        return {k: torch.tensor(v, dtype=torch.long) for k, v in out.items()}


class GKDTrainer(RLHFTrainerMixin, SwiftTrainerMixin, _TrlGKDTrainer):
    """trl's GKD with the teacher loaded from ``--teacher_model`` (:mod:`swiftk_rlhf.teacher`)."""

    def __init__(self, *args: Any, swift_args: Any = None, processing_class: Any = None, **kwargs: Any):
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        kwargs["data_collator"] = GKDCollator(pad if pad is not None else 0)
        kwargs["teacher_model"] = load_teacher(swift_args)
        super().__init__(*args, swift_args=swift_args, processing_class=processing_class, **kwargs)
        self._lmbda, self._seq_kd = self.lmbda, self.seq_kd
        self._sources: Counter = Counter()

    def answer_source(self) -> str:
        """Where this step's answers come from: the student (probability ``lmbda``), the teacher (``seq_kd``), the data."""
        draw = random.Random(int(self.args.seed) + int(self.state.global_step)).random()
        return "student" if draw < self._lmbda else "teacher" if self._seq_kd else "dataset"

    def training_step(self, model, inputs, num_items_in_batch=None):
        # trl's step draws from the global random state; ours is fixed per step, then trl generates from it
        source = self.answer_source()
        self._sources[source] += 1
        self.lmbda, self.seq_kd = (1.0 if source == "student" else -1.0), source == "teacher"
        try:
            return super().training_step(model, inputs, num_items_in_batch)
        finally:
            self.lmbda, self.seq_kd = self._lmbda, self._seq_kd

    def log(self, logs: dict, *args: Any, **kwargs: Any) -> None:
        total = sum(self._sources.values())
        if "loss" in logs and total:
            for source in ("student", "teacher", "dataset"):
                logs[f"answers/{source}"] = round(self._sources[source] / total, 4)
            self._sources.clear()
        super().log(logs, *args, **kwargs)
