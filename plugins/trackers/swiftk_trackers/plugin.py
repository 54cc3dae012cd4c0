"""``--report_to wandb swanlab mlflow all`` (transformers' own integrations log the metrics): the trackers
checked and ``all`` resolved before the run, the SWANLAB arguments wired (also for sft and pt), and the
run's resolved arguments in each tracker's config."""

from __future__ import annotations

import swiftk


def _tracks(args) -> bool:
    """The runs reporting to wandb, swanlab or mlflow (``all`` included): the callback adds the resolved
    arguments to their configs and, when the run ends, finishes the wandb and swanlab runs."""
    from swiftk_trackers.configure import report_to_list, tracked

    return bool(tracked(args)) or "all" in report_to_list(args.get("report_to"))


@swiftk.hookimpl
def register_arguments(register):
    register("swanlab", "swiftk_trackers.arguments:SwanlabTrainArguments", commands=["sft", "pt"])


@swiftk.hookimpl
def register_callbacks(register):
    register("tracker_config", "swiftk_trackers.callback:TrackerConfigCallback", when=_tracks, takes_args=True)


@swiftk.hookimpl
def post_args_parse(command, args):
    from swiftk_trackers.configure import configure

    configure(command, args)
