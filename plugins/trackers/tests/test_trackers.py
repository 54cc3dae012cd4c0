"""swift-plugin-trackers end to end: sft and GRPO runs on the demo model reporting to swanlab (local), wandb
(offline), mlflow (a file store) and tensorboard at once; each tracker's own files, read back with the
tracker's own reader, hold the loss values of logging.jsonl, and no file and no output holds the SwanLab token.

Readers: mlflow's ``MlflowClient``; swanlab's ``DataStoreReader`` with its ``Record`` protobuf; wandb's own
``Record`` protobuf (``wandb.proto.wandb_internal_pb2``) over the .wandb file's LevelDB-log framing, which
wandb 0.31 no longer reads from Python (swanlab's ``WBDataStoreReader``, its wandb converter, does);
tensorboard's ``EventAccumulator``.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from swiftk.api import UsageError
from swiftk_trackers.configure import mask_secrets_in_argv, resolve_report_to

TOKEN = "swanlab-test-token-3f9c1e7a"
TRACKERS = ["--report_to", "swanlab", "wandb", "mlflow", "tensorboard", "--swanlab_mode", "local"]
SFT = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft#16",
    "--split_dataset_ratio",
    "0",
    "--per_device_train_batch_size",
    "4",
    "--max_length",
    "128",
    "--gradient_checkpointing",
    "false",
    "--dataloader_num_workers",
    "0",
    "--add_version",
    "false",
    "--max_steps",
    "3",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--disable_tqdm",
    "true",
]
GRPO = [
    "--rlhf_type",
    "grpo",
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-grpo-sums#8",
    "--reward_funcs",
    "accuracy",
    "format",
    "--split_dataset_ratio",
    "0",
    "--num_generations",
    "4",
    "--per_device_train_batch_size",
    "4",
    "--max_completion_length",
    "8",
    "--dataloader_num_workers",
    "0",
    "--add_version",
    "false",
    "--max_steps",
    "2",
    "--logging_steps",
    "1",
    "--save_strategy",
    "no",
    "--disable_tqdm",
    "true",
]


def swiftk(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m swiftk args`` offline, with wandb offline and no tracker settings from the caller's
    environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "SWANLAB_", "MLFLOW_"))}
    full_env = {
        **base,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "TRL_EXPERIMENTAL_SILENCE": "1",
        "WANDB_MODE": "offline",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "swiftk", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=600,
    )


def train_rows(out: Path) -> list[dict]:
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r and "train_runtime" not in r]


def wandb_run(out: Path) -> tuple[list[dict], dict]:
    """(history rows, config) of the offline run under ``out/wandb``, from its .wandb records."""
    from swanlab.converter.wb.wbdatastore import WBDataStoreReader
    from wandb.proto import wandb_internal_pb2 as pb

    (path,) = glob.glob(str(out / "wandb" / "offline-run-*" / "run-*.wandb"))
    reader = WBDataStoreReader()
    reader.open(path)
    history, config = [], {}
    try:
        while (data := reader.scan()) is not None:
            record = pb.Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "history":
                history.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
            elif kind == "config":
                config.update({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.config.update})
    finally:
        reader.close()
    return history, config


def swanlab_run(out: Path) -> tuple[dict, dict[str, list[tuple[int, float]]]]:
    """(the start record, key -> [(step, value)]) of the run under ``out/swanlog``."""
    from swanlab.proto.swanlab.record.v1.record_pb2 import Record
    from swanlab.sdk.internal.core_python.store import DataStoreReader

    (path,) = glob.glob(str(out / "swanlog" / "run-*" / "run-*.swanlab"))
    reader = DataStoreReader()
    reader.open(path)
    start, scalars = {}, {}
    try:
        for data in reader:
            record = Record()
            record.ParseFromString(data)
            kind = record.WhichOneof("record_type")
            if kind == "start":
                start = {"project": record.start.project, "name": record.start.name}
            elif kind == "scalar":
                scalars.setdefault(record.scalar.key, []).append((record.scalar.step, record.scalar.value.number))
    finally:
        reader.close()
    return start, scalars


def mlflow_run(out: Path):
    """(client, run) of the one run in the file store ``out/mlruns``."""
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"file:{out / 'mlruns'}")
    (run,) = client.search_runs(experiment_ids=[e.experiment_id for e in client.search_experiments()])
    return client, run


def tensorboard_scalars(out: Path, tag: str) -> list[float]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (folder,) = {os.path.dirname(p) for p in glob.glob(str(out / "runs" / "**" / "events.*"), recursive=True)}
    acc = EventAccumulator(folder)
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)]


def mlflow_history(client, run, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def assert_no_token(out: Path, proc: subprocess.CompletedProcess) -> None:
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    holders = [str(p) for p in out.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert not holders, holders


@pytest.mark.slow
def test_sft_reports_the_same_scalars_to_every_tracker(tmp_path):
    out = tmp_path / "out"
    proc = swiftk(
        "sft",
        *SFT,
        *TRACKERS,
        "--swanlab_token",
        TOKEN,
        "--swanlab_project",
        "swiftk-test",
        "--swanlab_exp_name",
        "tiny-sft",
        "--output_dir",
        str(out),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = train_rows(out)
    assert [r["global_step"] for r in rows] == [1, 2, 3]
    losses = [r["loss"] for r in rows]

    history, config = wandb_run(out)
    logged = [h for h in history if "train/loss" in h]
    assert [h["train/loss"] for h in logged] == pytest.approx(losses)
    assert [h["train/grad_norm"] for h in logged] == pytest.approx([r["grad_norm"] for r in rows])
    assert [h["train/token_acc"] for h in logged] == pytest.approx([r["token_acc"] for r in rows])
    record = config["swiftk"]  # the run's resolved arguments, secrets masked
    assert record["model"] == "swiftk/tiny-chat" and record["swanlab_token"] == "***"
    assert record["model_type"] == "tiny_chat"

    client, run = mlflow_run(out)
    assert mlflow_history(client, run, "loss") == pytest.approx(losses)
    assert mlflow_history(client, run, "learning_rate") == pytest.approx([r["learning_rate"] for r in rows])
    assert run.data.params["swiftk.model"] == "swiftk/tiny-chat"
    assert run.data.params["swiftk.swanlab_token"] == "***"

    start, scalars = swanlab_run(out)
    assert start == {"project": "swiftk-test", "name": "tiny-sft"}
    assert scalars["train/loss"] == [(s, pytest.approx(v)) for s, v in zip([1, 2, 3], losses)]
    assert [v for _, v in scalars["train/token_acc"]] == pytest.approx([r["token_acc"] for r in rows])
    swanlab_config = next(out.glob("swanlog/run-*/files/config.yaml")).read_text()
    assert "swiftk:" in swanlab_config and "swiftk/tiny-chat" in swanlab_config

    assert tensorboard_scalars(out, "train/loss") == pytest.approx(losses, rel=1e-6)
    assert_no_token(out, proc)
    assert "[swiftk] a secret is on the command line: swanlab's runtime metadata" in proc.stdout
    assert "[swiftk] --swanlab_mode local: swanboard (swanlab's dashboard) is not installed" in proc.stdout
    assert json.loads((out / "args.json").read_text())["swanlab_token"] == "***"
    assert not list(tmp_path.glob("wandb")) and not list(tmp_path.glob("swanlog")) and not list(tmp_path.glob("mlruns"))


@pytest.mark.slow
def test_grpo_reports_rewards_and_the_completions_table(tmp_path):
    out = tmp_path / "out"
    proc = swiftk("rlhf", *GRPO, *TRACKERS, "--log_completions", "true", "--output_dir", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    rows = [r for r in rows if "reward" in r and "train_runtime" not in r]
    assert len(rows) == 2
    losses, rewards = [r["loss"] for r in rows], [r["reward"] for r in rows]
    accuracy = [r["rewards/accuracy/mean"] for r in rows]

    history, _ = wandb_run(out)
    logged = [h for h in history if "train/loss" in h]
    assert [h["train/loss"] for h in logged] == pytest.approx(losses)
    assert [h["train/reward"] for h in logged] == pytest.approx(rewards)
    assert [h["train/rewards/accuracy/mean"] for h in logged] == pytest.approx(accuracy)
    # --log_completions with wandb: trl logs each step's rollouts as a wandb table
    # (trl logs the last step's table again with the final summary log)
    tables = [h for h in history if h.get("completions/_type") == "table-file"]
    assert {h["train/global_step"] for h in tables} == {1, 2} and all(h["completions/nrows"] == 4 for h in tables)
    tables = [{"path": h["completions/path"]} for h in tables]
    table = json.loads(next((out / "wandb").glob(f"offline-run-*/files/{tables[0]['path']}")).read_text())
    assert {"prompt", "completion", "accuracy", "format"} <= set(table["columns"]) and len(table["data"]) == 4

    client, run = mlflow_run(out)
    assert mlflow_history(client, run, "loss") == pytest.approx(losses)
    assert mlflow_history(client, run, "reward") == pytest.approx(rewards)
    assert mlflow_history(client, run, "rewards/accuracy/mean") == pytest.approx(accuracy)

    _, scalars = swanlab_run(out)
    assert [v for _, v in scalars["train/loss"]] == pytest.approx(losses)
    assert [v for _, v in scalars["train/reward"]] == pytest.approx(rewards)
    assert tensorboard_scalars(out, "train/reward") == pytest.approx(rewards, rel=1e-6)


def test_a_tracker_whose_library_is_missing_is_one_line(tmp_path):
    # swanlab hidden from the run (the way Python blocks an import), not replaced by a fake
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "sitecustomize.py").write_text("import sys\nsys.modules['swanlab'] = None\n")
    out = tmp_path / "out"
    proc = swiftk("sft", *SFT, "--report_to", "swanlab", "--output_dir", str(out), env={"PYTHONPATH": str(overlay)})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].endswith(
        "--report_to swanlab needs swanlab, which is not installed: pip install 'swift-plugin-trackers[swanlab]'"
    ), lines[-3:]
    assert "Traceback" not in proc.stderr

    proc = swiftk("sft", *SFT, "--report_to", "comet_ml", "--output_dir", str(out))
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith("--report_to comet_ml needs comet_ml, which is not installed: pip install comet-ml")
    )


def test_all_enables_the_installed_trackers_and_names_the_skipped_ones(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # hidden, as if not installed
    assert resolve_report_to(["all"]) == ["tensorboard", "wandb", "swanlab"]
    assert capsys.readouterr().out == (
        "[swiftk] --report_to all: reporting to tensorboard, wandb, swanlab; skipped mlflow, not installed "
        "(mlflow: pip install 'swift-plugin-trackers[mlflow]')\n"
    )


def test_unknown_tracker_names_the_valid_ones():
    with pytest.raises(UsageError, match="--report_to wandbb: not a tracker; valid: all, none, wandb, swanlab"):
        resolve_report_to(["wandbb"])


def test_secret_values_leave_sys_argv(monkeypatch):
    class Args:
        values = {"swanlab_token": TOKEN, "hub_token": None, "report_to": ["swanlab"]}

        def secret_names(self):
            return {"swanlab_token", "hub_token"}

        def __contains__(self, name):
            return name in self.values

        def get(self, name, default=None):
            return self.values.get(name, default)

    monkeypatch.setattr(sys, "argv", ["swiftk", "sft", "--swanlab_token", TOKEN, f"--swanlab_token={TOKEN}"])
    assert mask_secrets_in_argv(Args()) == [TOKEN]
    assert sys.argv == ["swiftk", "sft", "--swanlab_token", "***", "--swanlab_token=***"]


TRACKER_ENV = ("WANDB_", "SWANLAB_", "MLFLOW_")
#: the variables configure may set: set then deleted here, so that monkeypatch removes them after the test
SET_BY_CONFIGURE = ("WANDB_DIR", "MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE", "SWANLAB_PROBE_RUNTIME")


@pytest.fixture
def clean(tmp_path, monkeypatch):
    """No tracker settings, no credentials (HOME an empty folder, the working folder too), the plugin's module
    state fresh; everything put back after the test."""
    from swiftk_trackers import configure as configure_module

    for name in [k for k in os.environ if k.startswith(TRACKER_ENV)]:
        monkeypatch.delenv(name)
    for name in (*SET_BY_CONFIGURE, "SWANLAB_API_KEY", "SWANLAB_PROJ_NAME", "SWANLAB_PROJECT", "NETRC"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "argv", ["swiftk", "sft"])
    monkeypatch.setattr(configure_module, "_SET_HERE", {})
    monkeypatch.setattr(configure_module, "_RESTORE", {})
    from transformers.integrations import integration_utils

    monkeypatch.setitem(
        integration_utils.INTEGRATION_TO_CALLBACK, "swanlab", integration_utils.INTEGRATION_TO_CALLBACK["swanlab"]
    )
    return tmp_path


def resolved(out, *flags):
    from swiftk.cli.builtin import resolve_arguments

    return resolve_arguments("sft", ["--add_version", "false", "--output_dir", str(out), *flags])


def test_runs_of_one_process_each_get_their_own_folders_and_the_users_settings_win(clean, monkeypatch):
    from swiftk_trackers.configure import configure

    tmp_path = clean
    monkeypatch.setenv("WANDB_MODE", "offline")

    def run(out, *flags):
        args = resolved(out, "--report_to", "wandb", "mlflow", *flags)
        configure("sft", args)
        return args

    run(tmp_path / "a")
    assert os.environ["WANDB_DIR"] == str(tmp_path / "a")
    assert os.environ["MLFLOW_TRACKING_URI"] == f"file:{tmp_path / 'a' / 'mlruns'}"
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "true"
    run(tmp_path / "b")
    assert os.environ["WANDB_DIR"] == str(tmp_path / "b")
    assert os.environ["MLFLOW_TRACKING_URI"] == f"file:{tmp_path / 'b' / 'mlruns'}"
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "mine"))
    args = run(tmp_path / "c")
    assert os.environ["WANDB_DIR"] == str(tmp_path / "mine")
    assert args.report_to == ["wandb", "mlflow"]


def test_cloud_runs_without_credentials_stop_before_anything_loads(clean, monkeypatch):
    from swiftk_trackers.configure import configure, restore

    out = clean / "out"
    with pytest.raises(UsageError, match=r"pass --swanlab_token, set SWANLAB_API_KEY .*or use --swanlab_mode local$"):
        configure("sft", resolved(out, "--report_to", "swanlab"))
    with pytest.raises(UsageError, match=r"set WANDB_API_KEY .*or use WANDB_MODE=offline$"):
        configure("sft", resolved(out, "--report_to", "wandb"))
    monkeypatch.setenv("SWANLAB_MODE", "cloud")  # the environment's mode counts when --swanlab_mode is not given
    with pytest.raises(UsageError, match="--swanlab_mode local"):
        configure("sft", resolved(out, "--report_to", "swanlab"))
    monkeypatch.delenv("SWANLAB_MODE")

    # a credential where each library looks for one: no error
    (Path.home() / ".swanlab").mkdir()
    (Path.home() / ".swanlab" / ".netrc").write_text("machine https://api.swanlab.cn\nlogin x\npassword k\n")
    (Path.home() / ".netrc").write_text("machine api.wandb.ai\nlogin user\npassword k\n")
    args = resolved(out, "--report_to", "swanlab", "wandb")
    configure("sft", args)
    restore()
    assert args.report_to == ["swanlab", "wandb"]
    (Path.home() / ".swanlab" / ".netrc").unlink()
    (Path.home() / ".netrc").unlink()
    args = resolved(out, "--report_to", "swanlab", "--swanlab_token", TOKEN)
    configure("sft", args)
    restore()
    assert os.environ.get("SWANLAB_API_KEY") is None  # the token is never put in the environment
    monkeypatch.setenv("WANDB_MODE", "offline")
    configure("sft", resolved(out, "--report_to", "wandb", "swanlab", "--swanlab_mode", "local"))
    restore()


def test_all_skips_the_trackers_without_credentials_and_says_so(clean, capsys):
    from swiftk_trackers.configure import configure

    args = resolved(clean / "out", "--report_to", "all")
    configure("sft", args)
    assert "wandb" not in args.report_to and "swanlab" not in args.report_to
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("[swiftk] --report_to all: reporting to tensorboard"), line
    assert (
        "skipped wandb, swanlab, no credentials (wandb: set WANDB_API_KEY, run `wandb login` or use "
        "WANDB_MODE=offline; swanlab: pass --swanlab_token, set SWANLAB_API_KEY or use --swanlab_mode local)"
    ) in line


def test_secret_values_are_masked_whole_and_always(clean):
    from swiftk_trackers.configure import configure

    short = "ab"  # a value that other arguments contain: only the secret's own value is masked
    sys.argv[:] = ["swiftk", "sft", "--hub_token", short, "--output_dir", "ab-out", f"--swanlab_token={TOKEN}x"]
    args = resolved(clean / "ab-out", "--hub_token", short, "--swanlab_token", TOKEN + "x", "--report_to", "none")
    configure("sft", args)  # no tracker chosen: masked all the same
    assert sys.argv == ["swiftk", "sft", "--hub_token", "***", "--output_dir", "ab-out", "--swanlab_token=***"]


def test_a_broken_tracker_install_is_one_usage_line(clean, monkeypatch):
    # swanlab's transformers integration blocked (the way Python blocks an import): an ImportError at setup
    from swiftk_trackers.configure import configure

    monkeypatch.setitem(sys.modules, "swanlab.integration.transformers", None)
    with pytest.raises(UsageError) as info:
        configure("sft", resolved(clean / "out", "--report_to", "swanlab", "--swanlab_mode", "local"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("--report_to swanlab: swanlab does not import (")
    assert message.endswith("reinstall it: pip install 'swift-plugin-trackers[swanlab]'")


def test_get_run_without_a_run_is_not_yet():
    from swiftk_trackers.callback import to_swanlab

    import swanlab

    assert not swanlab.has_run()
    assert to_swanlab({"model": "m"}) is False  # swanlab.get_run() raises: no run yet, retried later


def test_swanlab_project_is_moved_for_the_run_and_put_back(clean, monkeypatch):
    from transformers.integrations import integration_utils

    from swiftk_trackers.configure import configure, restore

    original = integration_utils.INTEGRATION_TO_CALLBACK["swanlab"]
    monkeypatch.setenv("SWANLAB_PROJECT", "mine")
    configure("sft", resolved(clean / "out", "--report_to", "swanlab", "--swanlab_mode", "local"))
    assert "SWANLAB_PROJECT" not in os.environ and os.environ["SWANLAB_PROJ_NAME"] == "mine"
    assert integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] is not original
    restore()
    assert os.environ["SWANLAB_PROJECT"] == "mine" and "SWANLAB_PROJ_NAME" not in os.environ
    assert integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] is original
    args = resolved(clean / "out", "--report_to", "swanlab", "--swanlab_mode", "local", "--swanlab_project", "p")
    configure("sft", args)
    assert "SWANLAB_PROJ_NAME" not in os.environ  # --swanlab_project wins
    restore()
    assert os.environ["SWANLAB_PROJECT"] == "mine"


@pytest.mark.slow
def test_each_run_of_a_job_gets_its_own_wandb_and_swanlab_runs(tmp_path):
    step = {"command": "sft", **{SFT[i].lstrip("-"): SFT[i + 1] for i in range(0, len(SFT), 2)}}
    step.update(max_steps="1", report_to=["wandb", "swanlab"], swanlab_mode="local")
    job = {
        "steps": [
            {**step, "name": "a", "output_dir": str(tmp_path / "a")},
            {**step, "name": "b", "output_dir": str(tmp_path / "b")},
        ]
    }
    (tmp_path / "job.yaml").write_text(json.dumps(job))  # JSON is YAML
    proc = swiftk("run", str(tmp_path / "job.yaml"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("a", "b"):
        assert len(glob.glob(str(tmp_path / name / "wandb" / "offline-run-*" / "run-*.wandb"))) == 1, name
        assert len(glob.glob(str(tmp_path / name / "swanlog" / "run-*" / "run-*.swanlab"))) == 1, name


def test_the_swanlab_token_stays_out_of_the_environment(clean):
    """Cloud mode with --swanlab_token: the token reaches swanlab's callback in memory (it logs in with
    save=False at setup, on rank 0; the real login needs the network, so it is not run here), never the
    environment that child processes inherit."""
    from transformers.integrations import integration_utils

    from swiftk_trackers.configure import configure, restore

    configure("sft", resolved(clean / "out", "--report_to", "swanlab", "--swanlab_token", TOKEN))
    try:
        assert os.environ.get("SWANLAB_API_KEY") is None
        assert TOKEN not in "".join(f"{k}={v}" for k, v in os.environ.items())
        assert integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] is not None
    finally:
        restore()


def test_the_end_of_a_run_puts_back_what_configure_changed(clean, monkeypatch):
    from transformers.integrations import integration_utils

    from swiftk_trackers.callback import TrackerConfigCallback
    from swiftk_trackers.configure import configure

    original = integration_utils.INTEGRATION_TO_CALLBACK["swanlab"]
    monkeypatch.setenv("SWANLAB_PROJECT", "mine")
    args = resolved(clean / "out", "--report_to", "swanlab", "--swanlab_mode", "local")
    configure("sft", args)
    callback = TrackerConfigCallback(args)

    class State:
        is_world_process_zero = True

    callback.on_train_end(None, State(), None)
    assert integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] is original
    assert os.environ["SWANLAB_PROJECT"] == "mine"
