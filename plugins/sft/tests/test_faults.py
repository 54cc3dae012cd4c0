"""No fault leaves a broken run: kill -9 during checkpoint rotation, what a killed version left, a run that
fails before its first step, a full disk during a save, SIGTERM (with and without --enable_jit_checkpoint).
Real runs of the CLI on the demo model; the faults come from plugins/interrupt.py or a small tmpfs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTERRUPT = str(HERE / "plugins" / "interrupt.py")
COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft#16",
    "--split_dataset_ratio",
    "0",
    "--per_device_train_batch_size",
    "4",
    "--max_length",
    "64",
    "--gradient_checkpointing",
    "false",
    "--dataloader_num_workers",
    "0",
    "--report_to",
    "none",
    "--eval_strategy",
    "no",
    "--external_plugins",
    INTERRUPT,
]
ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
#: what a checkpoint holds besides the weights, whatever the tuner
CHECKPOINT_FILES = {"trainer_state.json", "optimizer.pt", "scheduler.pt", "rng_state.pth", "args.json"}


def swiftk(*args, env=None, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV, **(env or {})},
        timeout=600,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_complete(checkpoint: Path, weights: str) -> None:
    files = {p.name for p in checkpoint.iterdir()}
    assert CHECKPOINT_FILES | {weights} <= files, (checkpoint, sorted(files))


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("swiftk: ")]


@pytest.mark.slow
def test_kill_during_rotation_leaves_every_checkpoint_complete(tmp_path):
    out = tmp_path / "run"
    args = [
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "3",
        "--save_steps",
        "1",
        "--save_total_limit",
        "1",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
    ]
    killed = swiftk("sft", *args, env={"KILL_IN_RMTREE": "1"}, check=False)
    assert killed.returncode == -9, killed.stderr[-2000:]
    kept = sorted(out.glob("checkpoint-*"))
    assert kept, sorted(p.name for p in out.iterdir())
    for checkpoint in kept:  # the one being deleted is no checkpoint-N any more
        assert_complete(checkpoint, "adapter_model.safetensors")
    swiftk("sft", *args, "--resume_from_checkpoint", str(kept[-1]))
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-3"]
    assert not [p.name for p in out.iterdir() if p.name.startswith((".trash", ".staging"))]


@pytest.mark.slow
def test_the_next_version_removes_what_a_killed_version_left(tmp_path):
    parent = tmp_path / "out"
    args = [
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "2",
        "--save_steps",
        "1",
        "--add_version",
        "true",
        "--output_dir",
        str(parent),
    ]
    killed = swiftk("sft", *args, env={"KILL_IN_SAVE": "2"}, check=False)
    assert killed.returncode == -9
    [first] = parent.glob("v0-*")
    assert (first / ".staging" / "checkpoint-2").is_dir() and (first / "checkpoint-1").is_dir()
    # two more versions: one whose run is dead (no lock held), one whose run is alive (this process holds it)
    from swiftk.io import hold_run_lock, release_run_lock

    dead, live = parent / "v1-20240101-000000", parent / "v2-20240101-000000"
    for folder in (dead, live):
        (folder / ".staging" / "checkpoint-7").mkdir(parents=True)
        (folder / ".swiftk-run.lock").touch()
    hold_run_lock(str(live))
    try:
        swiftk("sft", *args, "--resume_from_checkpoint", str(first / "checkpoint-1"))
    finally:
        release_run_lock(str(live))
    [resumed] = parent.glob("v3-*")
    assert (resumed / "checkpoint-2" / "trainer_state.json").is_file()
    assert not (first / ".staging").exists() and not (dead / ".staging").exists()
    assert (live / ".staging" / "checkpoint-7").is_dir()  # a live run's staging is never touched
    assert (first / "checkpoint-1" / "trainer_state.json").is_file()


@pytest.mark.parametrize("command", ["sft", "rlhf"])
def test_a_run_that_fails_before_its_first_step_leaves_no_version_folder(tmp_path, command):
    parent = tmp_path / "out"
    extra = ["--rlhf_type", "dpo", "--dataset", "swiftk/demo-dpo"] if command == "rlhf" else []
    failed = swiftk(
        command,
        *COMMON,
        *extra,
        "--train_type",
        "lora",
        "--max_steps",
        "1",
        "--target_modules",
        "nonexistent_proj",
        "--add_version",
        "true",
        "--output_dir",
        str(parent),
        check=False,
    )
    assert failed.returncode == 2 and "nonexistent_proj" in failed.stderr, failed.stderr[-2000:]
    assert not list(parent.glob("v*")), sorted(p.name for p in parent.iterdir())


def test_a_folder_another_live_run_writes_to_is_refused(tmp_path):
    from swiftk.io import hold_run_lock, release_run_lock

    out = tmp_path / "busy"
    hold_run_lock(str(out))
    try:
        result = swiftk(
            "sft",
            *COMMON,
            "--train_type",
            "lora",
            "--max_steps",
            "1",
            "--add_version",
            "false",
            "--output_dir",
            str(out),
            check=False,
        )
    finally:
        release_run_lock(str(out))
    assert result.returncode == 2 and "still in progress" in result.stderr, result.stderr[-2000:]


def _disk_full_checks(out: Path, result, weights: str) -> None:
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    [line] = [l for l in result.stderr.splitlines() if l.startswith("swiftk: error:")]
    assert "no space left on device" in line and str(out / "checkpoint-2") in line, line
    assert str(out / "checkpoint-1") in line  # where to resume from
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1"]
    assert_complete(out / "checkpoint-1", weights)
    assert not (out / ".staging").exists()  # the partial one is gone


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MiB tmpfs: room for one checkpoint of the demo model's full training (11.5 MiB), not two."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.slow
def test_a_full_disk_during_a_save_is_one_line_and_keeps_the_last_checkpoint(small_disk):
    out = small_disk / "run"
    result = swiftk(
        "sft",
        *COMMON,
        "--train_type",
        "full",
        "--max_steps",
        "3",
        "--save_steps",
        "1",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
        check=False,
    )
    _disk_full_checks(out, result, "model.safetensors")
    import torch

    assert torch.load(out / "checkpoint-1" / "optimizer.pt", weights_only=True)["state"]  # not truncated


@pytest.mark.slow
def test_a_save_failing_with_enospc_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    result = swiftk(
        "sft",
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "3",
        "--save_steps",
        "1",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
        env={"ENOSPC_IN_SAVE": "2"},
        check=False,
    )
    _disk_full_checks(out, result, "adapter_model.safetensors")
    debug = swiftk(
        "sft",
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "3",
        "--save_steps",
        "1",
        "--add_version",
        "false",
        "--output_dir",
        str(tmp_path / "debug"),
        env={"ENOSPC_IN_SAVE": "1", "SWIFTK_DEBUG": "1"},
        check=False,
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def _sigterm_mid_run(out: Path, *extra: str):
    """Start a long run, SIGTERM it once it passed step 2, return (process, stdout, stderr)."""
    step_file = out.parent / f"{out.name}.step"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "swiftk",
            "sft",
            *COMMON,
            "--train_type",
            "lora",
            "--max_steps",
            "400",
            "--save_steps",
            "1000",
            "--logging_steps",
            "1",
            "--add_version",
            "false",
            "--output_dir",
            str(out),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV, "STEP_FILE": str(step_file), "STEP_SLEEP": "0.2"},
    )
    deadline = time.time() + 300
    while not (step_file.is_file() and step_file.read_text().strip() not in ("", "0", "1")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=300)
    return proc, stdout, stderr


@pytest.mark.slow
def test_sigterm_mid_run_exits_cleanly_with_143(tmp_path):
    out = tmp_path / "run"
    proc, _, stderr = _sigterm_mid_run(out)
    assert proc.returncode == 143, stderr[-3000:]
    assert "swiftk: interrupted by SIGTERM" in error_lines(stderr), stderr[-3000:]
    assert "Traceback" not in stderr
    assert not (out / ".staging").exists() and not list(out.glob("checkpoint-*"))
    assert (out / "args.json").is_file()  # it had started: the folder stays


@pytest.mark.slow
def test_sigterm_with_jit_checkpoint_saves_then_exits_with_143(tmp_path):
    out = tmp_path / "run"
    proc, _, stderr = _sigterm_mid_run(out, "--enable_jit_checkpoint", "true")
    assert proc.returncode == 143, stderr[-3000:]
    [checkpoint] = out.glob("checkpoint-*")
    assert_complete(checkpoint, "adapter_model.safetensors")
    assert not list(out.rglob("checkpoint-is-incomplete.txt"))
    [line] = [l for l in error_lines(stderr) if "interrupted by SIGTERM" in l]
    assert str(checkpoint) in line, line
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["status"] == "interrupted by SIGTERM" and summary["last_model_checkpoint"] == str(checkpoint)
    step = json.loads((checkpoint / "trainer_state.json").read_text())["global_step"]
    assert checkpoint.name == f"checkpoint-{step}" and 2 <= step < 400


@pytest.mark.parametrize(
    "limit, best, kept",
    [
        (2, "checkpoint-2", [2, 5]),
        (3, "checkpoint-2", [2, 4, 5]),
        (1, None, [5]),
        (0, None, [1, 2, 3, 4, 5]),
    ],
)
def test_rotation_keeps_the_newest_and_the_best_and_leaves_no_trash(tmp_path, limit, best, kept):
    from swiftk_sft import checkpoint as ckpt

    for step in range(1, 6):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    ckpt.rotate(str(tmp_path), limit, str(tmp_path / best) if best else None)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"checkpoint-{s}" for s in kept)


def test_only_a_version_folder_without_checkpoints_is_discarded(tmp_path):
    from swiftk.io import discard_unstarted_run

    named, kept, empty = tmp_path / "run", tmp_path / "v1-20240101-000000", tmp_path / "v2-20240101-000000"
    for folder in (named, kept, empty):
        folder.mkdir()
        (folder / "args.json").write_text("{}")
    (kept / "checkpoint-1").mkdir()
    assert [discard_unstarted_run(str(f)) for f in (named, kept, empty)] == [False, False, True]
    assert named.is_dir() and kept.is_dir() and not empty.exists()
