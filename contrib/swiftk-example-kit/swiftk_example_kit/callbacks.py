"""``kit_step_counter``: a ``transformers.TrainerCallback`` added to every training run unless
``--kit_count_steps false`` (its ``when=``).  It counts optimizer steps and evaluations and writes
them, with the optimizer's class, the learning rate of each step and the last logged loss, to
``<output_dir>/kit_step_counter.json`` when training ends."""

from __future__ import annotations

import json
import os

from transformers import TrainerCallback

FILE_NAME = "kit_step_counter.json"


class StepCounter(TrainerCallback):
    def __init__(self):
        self.steps = 0
        self.evaluations = 0
        self.last_loss = None
        self.optimizer = None
        self.learning_rates = []

    def on_step_end(self, args, state, control, optimizer=None, **kwargs):
        self.steps += 1
        if optimizer is not None:
            inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps the optimizer
            self.optimizer = type(inner).__name__
            self.learning_rates.append(float(inner.param_groups[0]["lr"]))

    def on_evaluate(self, args, state, control, **kwargs):
        self.evaluations += 1

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.last_loss = float(logs["loss"])

    def on_train_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        record = {
            "steps": self.steps,
            "global_step": state.global_step,
            "evaluations": self.evaluations,
            "last_loss": self.last_loss,
            "optimizer": self.optimizer,
            "learning_rates": self.learning_rates,
        }
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, FILE_NAME), "w", encoding="utf-8") as f:
            json.dump(record, f, indent=2)
        print(f"[kit_step_counter] {self.steps} steps, {self.evaluations} evaluations", flush=True)
