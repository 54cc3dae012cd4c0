"""Test plugin: stop training after STOP_AT_STEP steps, or SIGKILL the process in the middle of
the checkpoint save number KILL_IN_SAVE (after the weights are written, before the optimizer)."""
import os
import signal

import swiftk


def stop_callback():
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= int(os.environ["STOP_AT_STEP"]):
                control.should_training_stop = True
                control.should_save = True

    return StopAt()


@swiftk.hookimpl
def register_callbacks(register):
    register("stop_at_step", stop_callback, when=lambda args: "STOP_AT_STEP" in os.environ)


@swiftk.hookimpl
def post_trainer_create(args, trainer):
    if "KILL_IN_SAVE" not in os.environ:
        return
    original = trainer._save_optimizer_and_scheduler
    saves = {"n": 0}

    def save_then_die(output_dir):
        saves["n"] += 1
        if saves["n"] == int(os.environ["KILL_IN_SAVE"]):
            os.kill(os.getpid(), signal.SIGKILL)
        return original(output_dir)

    trainer._save_optimizer_and_scheduler = save_then_die
