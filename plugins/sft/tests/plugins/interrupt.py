"""Test plugin: faults at chosen moments of a training run, each turned on by an environment variable.

- STOP_AT_STEP=N: stop training after N steps (saving a checkpoint).
- KILL_IN_SAVE=N: SIGKILL in the middle of the N-th checkpoint save (weights written, not the optimizer).
- KILL_IN_RMTREE=1: SIGKILL inside the first ``shutil.rmtree`` of a checkpoint folder (``--save_total_limit``
  rotation), after it deleted every file but ``trainer_state.json`` (the worst order ``rmtree`` may take).
- ENOSPC_IN_SAVE=N: the N-th checkpoint save fails as a full disk does (OSError ENOSPC writing the optimizer).
- STEP_FILE=path, STEP_SLEEP=s: write the step reached into ``path`` after each step, then sleep ``s``
  seconds (so that a test can signal the process mid-run).
"""

import errno
import os
import shutil
import signal
import time

import swiftk


def stop_callback():
    from transformers import TrainerCallback

    class StopAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= int(os.environ["STOP_AT_STEP"]):
                control.should_training_stop = True
                control.should_save = True

    return StopAt()


def step_file_callback():
    from transformers import TrainerCallback

    class StepFile(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            with open(os.environ["STEP_FILE"], "w") as f:
                f.write(str(state.global_step))
            time.sleep(float(os.environ.get("STEP_SLEEP", "0")))

    return StepFile()


@swiftk.hookimpl
def register_callbacks(register):
    register("stop_at_step", stop_callback, when=lambda args: "STOP_AT_STEP" in os.environ)
    register("step_file", step_file_callback, when=lambda args: "STEP_FILE" in os.environ)


def _nth_save(trainer, variable, action):
    """Run ``action(output_dir)`` instead of saving the optimizer in the save number ``$variable``."""
    original = trainer._save_optimizer_and_scheduler
    saves = {"n": 0}

    def save(output_dir):
        saves["n"] += 1
        if saves["n"] == int(os.environ[variable]):
            action(output_dir)
        return original(output_dir)

    trainer._save_optimizer_and_scheduler = save


def _die(_=None):
    os.kill(os.getpid(), signal.SIGKILL)


def _disk_full(output_dir):
    raise OSError(errno.ENOSPC, "No space left on device", os.path.join(output_dir, "optimizer.pt"))


def _kill_inside_rmtree():
    original = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if os.path.isfile(os.path.join(path, "trainer_state.json")):
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if name != "trainer_state.json":
                    original(full) if os.path.isdir(full) else os.remove(full)
            _die()
        return original(path, *args, **kwargs)

    shutil.rmtree = rmtree


@swiftk.hookimpl
def post_trainer_create(args, trainer):
    if "KILL_IN_SAVE" in os.environ:
        _nth_save(trainer, "KILL_IN_SAVE", _die)
    if "ENOSPC_IN_SAVE" in os.environ:
        _nth_save(trainer, "ENOSPC_IN_SAVE", _disk_full)
    if os.environ.get("KILL_IN_RMTREE"):
        _kill_inside_rmtree()
