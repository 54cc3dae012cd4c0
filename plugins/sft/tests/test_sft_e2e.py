"""`swiftk sft`/`pt` end to end on the demo model: outputs, resume, a kill during a save, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
INTERRUPT = str(HERE / "plugins" / "interrupt.py")
COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft",
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
]


def swiftk(*args, env=None, check=True, timeout=600):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "2", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def logs(output_dir) -> list[dict]:
    return [json.loads(l) for l in Path(output_dir, "logging.jsonl").read_text().splitlines()]


def train_losses(output_dir) -> dict[int, float]:
    return {r["global_step"]: r["loss"] for r in logs(output_dir) if "loss" in r and "train_runtime" not in r}


@pytest.mark.slow
def test_lora_sft_writes_every_output(tmp_path):
    out = tmp_path / "run"
    swiftk(
        "sft",
        *COMMON,
        "--train_type",
        "lora",
        "--num_train_epochs",
        "3",
        "--learning_rate",
        "5e-3",
        "--logging_steps",
        "2",
        "--save_steps",
        "10",
        "--output_dir",
        str(out),
        "--create_checkpoint_symlink",
        "true",
        "--eval_strategy",
        "no",
    )
    losses = train_losses(out)
    steps = sorted(losses)
    assert losses[steps[-1]] < losses[steps[0]]  # it learns
    assert json.loads((out / "args.json").read_text())["train_type"] == "lora"
    checkpoints = sorted(p.name for p in out.glob("checkpoint-*"))
    assert checkpoints, list(out.iterdir())
    last = out / checkpoints[-1]
    assert (last / "adapter_model.safetensors").is_file() and (last / "args.json").is_file()
    assert (last / "trainer_state.json").is_file() and (last / "optimizer.pt").is_file()
    assert os.path.realpath(out / "last") == str(last.resolve()) and (out / "best").exists()
    assert {"loss.png", "learning_rate.png", "grad_norm.png", "token_acc.png"} <= {
        p.name for p in (out / "images").iterdir()
    }
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # TensorBoard, the page's default report_to
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["last_model_checkpoint"] == str(last) and summary["train_tokens_per_s"] > 0
    assert not (out / ".staging").exists()


@pytest.mark.slow
def test_resume_gives_the_same_losses_step_by_step(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    args = [
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "10",
        "--save_steps",
        "5",
        "--logging_steps",
        "1",
        "--learning_rate",
        "5e-3",
        "--report_to",
        "none",
        "--external_plugins",
        INTERRUPT,
    ]
    swiftk("sft", *args, "--output_dir", str(straight))
    swiftk("sft", *args, "--output_dir", str(resumed), env={"STOP_AT_STEP": "5"})
    assert not (resumed / "checkpoint-10").exists() and (resumed / "checkpoint-5").is_dir()
    swiftk("sft", *args, "--output_dir", str(resumed), "--resume_from_checkpoint", str(resumed / "checkpoint-5"))
    a, b = train_losses(straight), train_losses(resumed)
    assert sorted(a) == list(range(1, 11))
    for step in range(1, 11):
        assert b[step] == pytest.approx(a[step], abs=1e-6), (step, a, b)


@pytest.mark.slow
def test_kill_during_save_keeps_the_previous_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = [
        *COMMON,
        "--train_type",
        "full",
        "--max_steps",
        "6",
        "--save_steps",
        "3",
        "--logging_steps",
        "1",
        "--report_to",
        "none",
        "--external_plugins",
        INTERRUPT,
        "--output_dir",
        str(out),
    ]
    killed = swiftk("sft", *args, env={"KILL_IN_SAVE": "2"}, check=False)
    assert killed.returncode == -9
    assert (out / "checkpoint-3" / "trainer_state.json").is_file()
    assert not (out / "checkpoint-6").exists()  # the half-written one never appeared
    assert (out / ".staging" / "checkpoint-6").is_dir()  # it stayed in staging
    swiftk("sft", *args, "--resume_from_checkpoint", str(out / "checkpoint-3"))
    assert (out / "checkpoint-6" / "trainer_state.json").is_file() and not (out / ".staging").exists()


@pytest.mark.slow
def test_pt_and_packing_and_full_training_with_frozen_layers(tmp_path):
    out = tmp_path / "pt"
    swiftk(
        "pt",
        *COMMON[:2],
        "--dataset",
        "swiftk/demo-pt",
        "--split_dataset_ratio",
        "0",
        "--train_type",
        "full",
        "--packing",
        "true",
        "--max_length",
        "64",
        "--max_steps",
        "3",
        "--logging_steps",
        "1",
        "--report_to",
        "none",
        "--freeze_parameters",
        "model.embed_tokens",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
    )
    saved = json.loads((out / "args.json").read_text())
    assert saved["use_chat_template"] is False and saved["loss_scale"] == "all" and saved["packing"] is True
    assert len(train_losses(out)) == 3


@pytest.mark.slow
def test_eval_with_generation_and_the_nlg_metric(tmp_path):
    out = tmp_path / "gen"
    swiftk(
        "sft",
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "2",
        "--val_dataset",
        "swiftk/demo-sft#4",
        "--predict_with_generate",
        "true",
        "--max_new_tokens",
        "8",
        "--eval_steps",
        "2",
        "--save_steps",
        "2",
        "--logging_steps",
        "1",
        "--report_to",
        "none",
        "--output_dir",
        str(out),
    )
    evals = [r for r in logs(out) if "eval_rouge-l" in r]
    assert evals and 0 <= evals[-1]["eval_rouge-l"] <= 1 and "eval_bleu-4" in evals[-1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--max_length", "8"], "max_length"),
        (["--target_modules", "nonexistent_proj"], "--target_modules: nonexistent_proj match no module"),
        (["--resume_from_checkpoint", "/nonexistent/checkpoint-5"], "--resume_from_checkpoint: no such folder"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_no_checkpoint(tmp_path, extra, message):
    out = tmp_path / "bad"
    args = [a for a in COMMON if a != "128"] if "--max_length" in extra else list(COMMON)
    if "--max_length" in extra:
        args.remove("--max_length")
    result = swiftk(
        "sft", *args, "--train_type", "lora", "--max_steps", "1", "--output_dir", str(out), *extra, check=False
    )
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [l for l in result.stderr.splitlines() if l.startswith("swiftk: error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert not list(out.glob("checkpoint-*"))


def test_partial_checkpoint_is_refused(tmp_path):
    partial = tmp_path / "checkpoint-4"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"")
    result = swiftk(
        "sft",
        *COMMON,
        "--max_steps",
        "1",
        "--output_dir",
        str(tmp_path / "o"),
        "--resume_from_checkpoint",
        str(partial),
        check=False,
    )
    assert result.returncode == 2 and "is not a complete checkpoint" in result.stderr


@pytest.mark.slow
def test_resume_only_model_restarts_the_schedule_from_the_saved_weights(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    args = [
        *COMMON,
        "--train_type",
        "lora",
        "--max_steps",
        "6",
        "--save_steps",
        "6",
        "--logging_steps",
        "1",
        "--learning_rate",
        "5e-3",
        "--report_to",
        "none",
    ]
    swiftk("sft", *args, "--output_dir", str(first))
    swiftk(
        "sft",
        *args,
        "--output_dir",
        str(second),
        "--resume_from_checkpoint",
        str(first / "checkpoint-6"),
        "--resume_only_model",
        "true",
    )
    a, b = train_losses(first), train_losses(second)
    assert sorted(b) == list(range(1, 7))  # a new run of 6 steps, not a continuation
    assert b[1] < a[1] - 0.3  # ... that starts from the trained weights


@pytest.mark.slow
def test_sequence_classification_with_num_labels(tmp_path):
    data = tmp_path / "cls.jsonl"
    positive, negative = ["great", "good", "happy", "love"], ["bad", "awful", "sad", "hate"]
    rows = [
        {
            "messages": [{"role": "user", "content": f"This is {(positive if i % 2 else negative)[i % 4]}."}],
            "label": i % 2,
        }
        for i in range(48)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "cls"
    swiftk(
        "sft",
        "--model",
        "swiftk/tiny-chat",
        "--num_labels",
        "2",
        "--dataset",
        str(data),
        "--split_dataset_ratio",
        "0",
        "--max_steps",
        "24",
        "--learning_rate",
        "1e-3",
        "--logging_steps",
        "4",
        "--per_device_train_batch_size",
        "8",
        "--gradient_checkpointing",
        "false",
        "--report_to",
        "none",
        "--add_version",
        "false",
        "--output_dir",
        str(out),
    )
    assert json.loads((out / "args.json").read_text())["task_type"] == "seq_cls"
    losses = train_losses(out)
    assert losses[max(losses)] < 0.5 * losses[min(losses)]


@pytest.mark.slow
def test_early_stop_interval_ends_training_when_the_eval_loss_stops_improving(tmp_path):
    """later ms-swift's --early_stop_interval: with a learning rate that makes the eval loss worse after the first
    evaluation, 2 saves without a better eval loss stop the run long before --max_steps."""
    out = tmp_path / "o"
    common = [a if a != "0" or COMMON[i - 1] != "--split_dataset_ratio" else "0.2" for i, a in enumerate(COMMON)]
    proc = swiftk("sft", *common, "--train_type", "full", "--max_steps", "40", "--save_steps", "2",
                  "--eval_steps", "2", "--logging_steps", "1", "--learning_rate", "0.5", "--early_stop_interval", "2",
                  "--report_to", "none", "--output_dir", str(out))  # fmt: skip
    assert "early stop at step" in proc.stdout, proc.stdout[-2000:]
    steps = max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert steps < 40
    evals = [r["eval_loss"] for r in logs(out) if "eval_loss" in r]
    assert min(evals[-2:]) >= min(evals[:-2]), evals  # the last two evaluations were no better
