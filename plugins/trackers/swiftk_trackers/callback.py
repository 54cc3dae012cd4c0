"""The run's resolved arguments (``args.json``'s content, secrets masked) in each tracker's run config:
``wandb.config["swiftk"]``, ``swanlab.config["swiftk"]``, and mlflow params ``swiftk.<name>``.

transformers' own callbacks start the runs (``on_train_begin``) and log the metrics; they come before the
registered callbacks, so their runs exist when this one's ``on_train_begin`` runs (else the first
``on_log`` retries). Its ``on_train_end`` (after theirs) finishes the wandb and swanlab runs, so that the next
run of the same process (a ``swiftk run`` job's steps) starts its own, and puts back what
``swiftk_trackers.configure`` changed for the run.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from transformers import TrainerCallback

from swiftk_trackers.configure import restore, tracked

logger = logging.getLogger("swiftk.trackers")


def _flatten(record: dict, prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in record.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name))
        else:
            out[name] = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return out


def to_wandb(record: dict) -> bool:
    import wandb

    if wandb.run is None:
        return False
    wandb.config.update({"swiftk": record}, allow_val_change=True)
    return True


def to_swanlab(record: dict) -> bool:
    import swanlab

    try:
        if swanlab.get_run() is None:
            return False
    except RuntimeError:  # swanlab 0.10: no active run yet; the next on_log retries
        return False
    swanlab.config.update({"swiftk": record})
    return True


def to_mlflow(record: dict) -> bool:
    import mlflow
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH, MAX_PARAMS_TAGS_PER_BATCH

    if mlflow.active_run() is None:
        return False
    # mlflow's names: alphanumerics, _ - . space : / (a dataset name such as "org/data#16" may hold others)
    params = {
        re.sub(r"[^0-9A-Za-z_\-. :/]", "_", k): v[:MAX_PARAM_VAL_LENGTH] for k, v in _flatten(record, "swiftk").items()
    }
    items = list(params.items())
    for i in range(0, len(items), MAX_PARAMS_TAGS_PER_BATCH):
        mlflow.log_params(dict(items[i : i + MAX_PARAMS_TAGS_PER_BATCH]))
    return True


WRITERS = {"wandb": to_wandb, "swanlab": to_swanlab, "mlflow": to_mlflow}


class TrackerConfigCallback(TrainerCallback):
    """Adds the run's resolved arguments to the config of each tracker the run reports to."""

    def __init__(self, args: Any):
        self._args = args
        self._pending = set(tracked(args))

    def _push(self, state: Any) -> None:
        if not state.is_world_process_zero:
            self._pending.clear()
            return
        record = self._args.to_record()  # secrets are *** (Arguments.to_dict)
        for name in sorted(self._pending):
            try:
                done = WRITERS[name](record)
            except Exception as exc:  # a tracker's config is a courtesy: never stop the training for it
                logger.warning(f"--report_to {name}: could not add the run's arguments to its config: {exc}")
                done = True
            if done:
                self._pending.discard(name)

    def on_train_begin(self, args, state, control, **kwargs):
        if self._pending:
            self._push(state)

    def on_log(self, args, state, control, **kwargs):
        if self._pending:
            self._push(state)

    def on_train_end(self, args, state, control, **kwargs):
        try:
            if state.is_world_process_zero:
                finish_runs()
        finally:
            restore()


def finish_runs() -> None:
    """Finish the active wandb and swanlab runs (each only when its library is already imported and a run is
    active)."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        try:
            wandb.finish()
            # wandb's process-wide settings (WANDB_DIR, read once): the next run reads its own again
            wandb.teardown()
        except Exception as exc:
            logger.warning(f"--report_to wandb: could not finish the run: {exc}")
    swanlab = sys.modules.get("swanlab")
    if swanlab is not None and hasattr(swanlab, "has_run") and swanlab.has_run():
        try:
            swanlab.finish()
        except Exception as exc:
            logger.warning(f"--report_to swanlab: could not finish the run: {exc}")
