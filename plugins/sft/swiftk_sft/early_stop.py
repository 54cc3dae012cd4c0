"""``--early_stop_interval N`` (later ms-swift): stop training when the best metric has not improved over the
last N saves.

As ms-swift's EarlyStopCallback: at each save the trainer's ``best_metric`` (``--metric_for_best_model``, loss by
default, compared as ``--greater_is_better`` says) is compared with the best seen so far; N saves in a row without
a better one end the run (the checkpoint just saved stays).
"""

from __future__ import annotations

from typing import Any, Optional

from transformers import TrainerCallback


class EarlyStopCallback(TrainerCallback):
    def __init__(self, args: Any) -> None:
        self.patience = int(args.get("early_stop_interval"))
        if self.patience < 1:
            from swiftk.api import UsageError

            raise UsageError(f"--early_stop_interval {self.patience}: give a number of saves, 1 or more")
        self.best: Optional[float] = None
        self.stale = 0

    def on_save(self, args, state, control, **kwargs):
        metric = state.best_metric
        if metric is None:  # no evaluation yet: nothing to compare
            return
        better = self.best is None or (metric > self.best if args.greater_is_better else metric < self.best)
        if better:
            self.best, self.stale = metric, 0
            return
        self.stale += 1
        if self.stale >= self.patience:
            print(
                f"[swiftk] early stop at step {state.global_step}: {args.metric_for_best_model} has not improved "
                f"over the last {self.stale} saves (best {self.best:.6g})",
                flush=True,
            )
            control.should_training_stop = True
