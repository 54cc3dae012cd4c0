"""`swiftk web-ui`'s handlers called directly: forms -> command lines, the run registry (launch, status, stop,
reattach), and what a training run's folder gives the page (run folder, curves, last checkpoint).

Runs here are real detached processes: small Python scripts started through the same launcher as `swiftk` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import swiftk
from swiftk.api import UsageError, arg

from swiftk_webui.web_ui import actions
from swiftk_webui.web_ui.forms import build_argv, flag_value, form_fields, hot_and_groups, masked, replace_flag
from swiftk_webui.web_ui.labels import LABELS_EN, LABELS_ZH, labels
from swiftk_webui.web_ui.runs import RunStore, Status, last_checkpoint, read_curves


def filled(command: str, **changes):
    """The form of `command` with `changes` (name -> widget value) and every other field at its default."""
    fields = form_fields(command)
    missing = set(changes) - {f.name for f in fields}
    assert not missing, missing
    return fields, [changes.get(f.name, f.value) for f in fields]


# -- labels and forms ---------------------------------------------------------------------------------------------


def test_every_label_exists_in_both_languages():
    assert set(LABELS_ZH) == set(LABELS_EN)
    assert all(LABELS_ZH[k] and LABELS_EN[k] for k in LABELS_ZH)
    with pytest.raises(UsageError, match="--lang: 'fr' is not valid; choose from zh, en"):
        labels("fr")


def test_hot_arguments_come_first_and_the_rest_is_grouped():
    fields = form_fields("sft")
    hot, groups = hot_and_groups(fields)
    names = {f.name for f in hot}
    assert {"model", "dataset", "train_type", "lora_rank", "save_steps"} <= names
    assert "logging_steps" not in names
    assert sum(len(members) for _, members in groups) + len(hot) == len(fields)
    kinds = {f.name: f for f in fields}
    assert kinds["gradient_checkpointing"].kind == "checkbox" and kinds["gradient_checkpointing"].value is True
    assert kinds["train_type"].kind == "dropdown" and "full" in kinds["train_type"].choices
    assert kinds["torch_dtype"].kind == "dropdown" and kinds["torch_dtype"].choices[0] == ""  # None: decided by the run


def test_an_untouched_form_is_an_empty_command_line():
    fields, values = filled("sft")
    assert build_argv("sft", fields, values) == []


def test_only_changed_arguments_go_on_the_command_line():
    fields, values = filled(
        "sft",
        model="swiftk/tiny-chat",
        dataset="swift/self-cognition#64 'my data.jsonl'",
        model_name="小黄 'Xiao Huang'",
        gradient_checkpointing=False,
        max_steps="12",
        split_dataset_ratio="0.010",  # the default, written differently: left off
        train_type="full",
    )
    argv = build_argv("sft", fields, values)
    assert argv == [
        "--train_type",
        "full",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swift/self-cognition#64",
        "my data.jsonl",
        "--model_name",
        "小黄",
        "Xiao Huang",
        "--gradient_checkpointing",
        "false",
        "--max_steps",
        "12",
    ]


def test_a_cleared_optional_value_is_none_and_bad_values_name_the_flag():
    fields, values = filled("sft", max_steps="many")
    with pytest.raises(UsageError, match="--max_steps expects an integer, got 'many'"):
        build_argv("sft", fields, values)
    fields, values = filled("sft", train_type="lorra")
    with pytest.raises(UsageError, match="--train_type: 'lorra' is not valid"):
        build_argv("sft", fields, values)
    fields, values = filled("sft", max_steps="")
    with pytest.raises(UsageError, match="--max_steps: a value is needed"):
        build_argv("sft", fields, values)
    fields, values = filled("export", quant_bits="")  # Optional: the default None stays off the line
    assert build_argv("export", fields, values) == []


def test_secrets_are_masked_in_what_is_shown_and_recorded():
    fields, values = filled("export", hub_token="hf_secret", push_to_hub=True)
    argv = build_argv("export", fields, values)
    assert "hf_secret" in argv
    shown = masked(argv, fields)
    assert "hf_secret" not in shown and "***" in shown and "--push_to_hub" in shown


@dataclass
class PenaltyArguments:
    SECTION = "Penalty"
    SECTION_ZH = "惩罚"

    shouting_penalty: float = arg(0.0, "A plugin's own argument.")


class PenaltyPlugin:
    @swiftk.hookimpl
    def register_arguments(self, register):
        register("penalty", PenaltyArguments, commands=["sft"])


def test_an_argument_a_plugin_registers_appears_in_the_form(register_plugin):
    register_plugin(PenaltyPlugin(), "penalty_plugin")
    fields, values = filled("sft", shouting_penalty="0.5")
    penalty = next(f for f in fields if f.name == "shouting_penalty")
    assert penalty.info.owner is PenaltyArguments
    assert build_argv("sft", fields, values) == ["--shouting_penalty", "0.5"]
    assert "shouting_penalty" not in {f.name for f in form_fields("infer")}


def test_flags_are_replaced_and_read():
    argv = ["--model", "m", "--resume_from_checkpoint", "a", "--max_steps", "3"]
    assert replace_flag(argv, "resume_from_checkpoint", ["b"]) == [
        "--model",
        "m",
        "--max_steps",
        "3",
        "--resume_from_checkpoint",
        "b",
    ]
    assert flag_value(argv, "max_steps") == ["3"] and flag_value(argv, "output_dir") is None
    assert flag_value(["--output_dir=out/x"], "output_dir") == ["out/x"]


# -- the run registry ---------------------------------------------------------------------------------------------

#: a stand-in for a long training run: prints, then waits; Ctrl-C ends it with 130 as `swiftk` does
SLEEPER = textwrap.dedent(
    """
    import sys, time
    print("step 1", flush=True)
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        print("interrupted, saving", flush=True)
        sys.exit(130)
    """
)


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    store = RunStore(str(tmp_path / "home"))
    yield store
    for run in store.runs():  # nothing a test started outlives it
        if store.stop(run):
            store.wait(run, 10)


def wait_for(predicate, timeout: float = 20.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout} s")


def test_a_run_is_detached_recorded_stopped_and_reattached(store: RunStore, tmp_path: Path):
    run = store.launch("sft", ["--max_steps", "3"], cwd=str(tmp_path), program=[sys.executable, "-c", SLEEPER])
    assert os.getsid(run.pid) == run.pid  # its own session: closing the page or the web-ui does not reach it
    assert store.status(run).state == "running"
    wait_for(lambda: "step 1" in store.tail(run))
    record = json.loads(Path(store.path(run.id, ".json")).read_text())
    assert record["pid"] == run.pid and record["command"] == "sft" and sys.executable in record["command_line"]

    again = RunStore(store.home)  # a restarted web-ui: the run is listed and still running
    assert [r.id for r in again.runs()] == [run.id]
    assert again.status(again.get(run.id)).state == "running"
    assert again.stop(again.get(run.id))
    status = again.wait(again.get(run.id), 15)
    assert (status.state, status.exit_code) == ("stopped", 130)
    assert "interrupted, saving" in store.tail(run)
    assert store.status(run).state == "stopped"
    assert not store.stop(run)  # an ended run is not signalled again


def test_exit_statuses_finished_failed_and_unknown(store: RunStore, tmp_path: Path):
    ok = store.launch("export", [], cwd=str(tmp_path), program=[sys.executable, "-c", "print('done')"])
    bad = store.launch("export", [], cwd=str(tmp_path), program=[sys.executable, "-c", "raise SystemExit(3)"])
    assert (store.wait(ok, 15).state, store.status(ok).exit_code) == ("finished", 0)
    assert (store.wait(bad, 15).state, store.status(bad).exit_code) == ("failed", 3)

    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # a PID that has ended, with no recorded status
    gone.wait()
    lost = store.launch("sft", [], cwd=str(tmp_path), program=[sys.executable, "-c", "pass"])
    store.wait(lost, 15)
    os.unlink(store.path(lost.id, ".exit"))
    lost.pid = gone.pid
    store.save(lost)
    fresh = RunStore(store.home)
    assert fresh.status(fresh.get(lost.id)) == Status("failed", None)  # shown as failed, exit status unknown


#: a stand-in for a training run's files: the run lock with its PID, logging.jsonl, two checkpoints (one incomplete)
FAKE_TRAINING = textwrap.dedent(
    """
    import json, os, socket
    folder = os.path.join("out", "v0-20260101-000000")
    os.makedirs(os.path.join(folder, "checkpoint-2"))
    os.makedirs(os.path.join(folder, "checkpoint-4"))  # being written: no trainer_state.json yet
    open(os.path.join(folder, "checkpoint-2", "trainer_state.json"), "w").write("{}")
    open(os.path.join(folder, ".swiftk-run.lock"), "w").write(f"pid {os.getpid()} on {socket.gethostname()}\\n")
    with open(os.path.join(folder, "logging.jsonl"), "w") as f:
        for step in (1, 2, 3):
            f.write(json.dumps({"loss": 2.0 / step, "learning_rate": 1e-4 * step, "global_step": step}) + "\\n")
        f.write('{"loss": 0.1, "glob')  # a line still being written
    """
)


def test_the_run_folder_curves_and_last_checkpoint_are_found(store: RunStore, tmp_path: Path):
    run = store.launch("sft", [], cwd=str(tmp_path), program=[sys.executable, "-c", "pass"], output_root="out")
    store.wait(run, 15)
    fake = store.launch("sft", [], cwd=str(tmp_path), program=[sys.executable, "-c", FAKE_TRAINING], output_root="out")
    assert store.wait(fake, 15).state == "finished"
    run_dir = store.find_run_dir(fake)
    assert run_dir == str(tmp_path / "out" / "v0-20260101-000000")
    assert store.get(fake.id).run_dir == run_dir  # remembered
    assert store.find_run_dir(run) is None  # another run's lock is not this run's folder
    curves = read_curves(run_dir)
    assert curves["loss"] == [(1, 2.0), (2, 1.0), (3, 2.0 / 3)]
    assert [step for step, _ in curves["learning_rate"]] == [1, 2, 3]
    assert last_checkpoint(run_dir) == os.path.join(run_dir, "checkpoint-2")
    view = actions.run_view(store, fake.id)
    assert view["state"] == "finished" and view["checkpoint"].endswith("checkpoint-2")

    resumed = actions.resume_run(store, fake.id)
    assert resumed.argv == ["--resume_from_checkpoint", os.path.join(run_dir, "checkpoint-2")]
    assert resumed.parent == fake.id and resumed.output_root == "output"
    merged = actions.export_run(store, fake.id)
    assert merged.argv == ["--adapters", os.path.join(run_dir, "checkpoint-2"), "--merge_lora", "true"]
    with pytest.raises(UsageError, match="no checkpoint yet"):
        actions.deploy_run(store, run.id)
    with pytest.raises(UsageError, match="only a training run"):
        actions.resume_run(store, merged.id)
    with pytest.raises(UsageError, match="no run 'nope'"):
        actions.resume_run(store, "nope")


def test_secrets_reach_the_run_through_its_environment_not_its_command_line(tmp_path):
    """A secret typed in a form is not on the launched command line (every local user can read that); the run
    gets it as SWIFTK_SECRET_<NAME>, which the kernel's parser reads as the argument."""
    import subprocess
    import sys

    from swiftk_webui.web_ui.runs import split_secrets

    fields, values = filled("export", hub_token="hf_secret", push_to_hub=True)
    argv = build_argv("export", fields, values)
    kept, env = split_secrets(argv, masked(argv, fields))
    assert "hf_secret" not in kept and "--hub_token" not in kept and "--push_to_hub" in kept
    assert env == {"SWIFTK_SECRET_HUB_TOKEN": "hf_secret"}
    code = (
        "from swiftk.cli.builtin import resolve_arguments\n"
        "args = resolve_arguments('export', ['--model', 'swiftk/tiny-chat', '--push_to_hub', 'true'])\n"
        "print(args.hub_token == 'hf_secret', 'hub_token' in args.explicit)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env},
                          cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.stdout.split() == ["True", "True"], done.stderr[-2000:]
