"""``--report_to wandb swanlab mlflow all`` (transformers' own integrations log the metrics): the trackers
checked and ``all`` resolved before the run, the SWANLAB arguments wired (also for sft and pt), and the
run's resolved arguments in each tracker's config."""

from __future__ import annotations

import swiftk


def _tracks(args) -> bool:
    from swiftk_trackers.configure import tracked

    return bool(tracked(args))


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
