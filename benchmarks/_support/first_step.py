"""Benchmark plugin: write the wall-clock time of the first training step and the trained token count."""

import json
import os
import time

import swiftk


def first_step_recorder():
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 1:
                with open(os.environ["SWIFTK_BENCH_OUT"], "w") as f:
                    json.dump({"first_step_at": time.time()}, f)

    return Recorder()


@swiftk.hookimpl
def register_callbacks(register):
    register("bench_first_step", first_step_recorder, when=lambda args: "SWIFTK_BENCH_OUT" in os.environ)
