"""Callbacks every training run gets: ``logging.jsonl`` and the loss-curve PNGs."""

from __future__ import annotations

import json
import os
import time

from transformers import TrainerCallback


class JsonlLoggingCallback(TrainerCallback):
    """Append each log (train and eval) as one JSON object to ``output_dir/logging.jsonl``."""

    def __init__(self) -> None:
        self.start = time.time()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {
            **logs,
            "global_step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": round(state.epoch or 0.0, 4),
            "elapsed_s": round(time.time() - self.start, 2),
        }
        if state.max_steps and state.global_step:
            remaining = (time.time() - self.start) / state.global_step * (state.max_steps - state.global_step)
            row["remaining_s"] = round(remaining, 1)
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "logging.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


class PlotCallback(TrainerCallback):
    """Redraw ``output_dir/images/*.png`` from logging.jsonl at each save and at the end (the curves that
    changed since they were last drawn)."""

    def __init__(self) -> None:
        self._drawn: dict = {}

    def _plot(self, args, state):
        if state.is_world_process_zero:
            from swiftk_sft.plots import write_plots

            logs, images = os.path.join(args.output_dir, "logging.jsonl"), os.path.join(args.output_dir, "images")
            write_plots(logs, images, drawn=self._drawn)

    def on_save(self, args, state, control, **kwargs):
        self._plot(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self._plot(args, state)
