"""``--rlhf_type gkd``: real steps on the demo model with a distinct teacher of the same vocabulary (the demo
model with perturbed weights).  The student's next-token distributions on the training answers move toward
the teacher's (the JSD between them falls; it cannot fall by chance), the on-policy (student-sampled) and
sequence-level (teacher-sampled) paths run, checkpoints reload in `swiftk infer`, and a missing teacher, one
with another vocabulary and bad values are refused with one line before anything loads.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest

import rlhf_helpers as h
from swiftk.api import UsageError


def rlhf_args(*argv: str):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        return resolve_arguments("rlhf", ["--model", "swiftk/tiny-chat", *argv])


def prepared(*argv: str):
    """The arguments after gkd's checks (what args.json records), in a host with the plugins loaded."""
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope
    from swiftk_rlhf.args import prepare_gkd

    with HostScope(autoload=True):
        args = resolve_arguments("rlhf", ["--model", "swiftk/tiny-chat", "--rlhf_type", "gkd", *argv])
        prepare_gkd(args)
    return args


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    return h.perturbed_copy(tmp_path_factory.mktemp("gkd") / "teacher", scale=0.3)


# --- arguments: checked before any model loads ---------------------------------------------------


def test_gkd_defaults_and_values_reach_trl(teacher):
    from trl.experimental.gkd import GKDConfig

    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk_rlhf.args import gkd_config

    args = prepared("--teacher_model", str(teacher), "--output_dir", "/tmp/swiftk-gkd-unit", "--add_version", "false")
    assert (args.beta, args.lmbda, args.seq_kd, args.temperature, args.max_completion_length) == (
        0.5,
        0.5,
        False,
        0.9,
        512,
    )
    args = prepared(
        "--teacher_model",
        str(teacher),
        "--beta",
        "0.2",
        "--lmbda",
        "1",
        "--seq_kd",
        "true",
        "--temperature",
        "0.7",
        "--max_completion_length",
        "24",
        "--output_dir",
        "/tmp/swiftk-gkd-unit",
        "--add_version",
        "false",
    )
    config = to_training_arguments(args, GKDConfig, has_eval=False, **gkd_config(args))
    assert (config.beta, config.lmbda, config.seq_kd, config.temperature, config.max_new_tokens) == (
        0.2,
        1.0,
        True,
        0.7,
        24,
    )
    # ms-swift's older name: --max_new_tokens alone sets the completion length
    assert prepared("--teacher_model", str(teacher), "--max_new_tokens", "12").max_completion_length == 12


def test_a_missing_teacher_and_another_vocabulary_are_one_line(teacher, tmp_path):
    with pytest.raises(UsageError, match="--teacher_model is required with --rlhf_type gkd"):
        prepared()
    with pytest.raises(UsageError, match=r"--teacher_model /nowhere/teacher: no such folder"):
        prepared("--teacher_model", "/nowhere/teacher")
    other = tmp_path / "other-vocab"
    shutil.copytree(teacher, other)
    config = json.loads((other / "config.json").read_text())
    config["vocab_size"] = 2048
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(UsageError, match="its vocabulary has 2048 tokens, --model swiftk/tiny-chat's 1536") as err:
        prepared("--teacher_model", str(other))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--lmbda", "1.5"], "--lmbda must be in [0, 1]"),
        (["--beta", "2"], "--beta must be in [0, 1]"),
        (["--loss_type", "sigmoid"], "--rlhf_type gkd takes no loss type"),
        (["--packing", "true"], "--packing true: not supported by --rlhf_type gkd"),
        (["--ref_model", "swiftk/tiny-chat"], "--ref_model: --rlhf_type gkd has no reference or reward model"),
    ],
)
def test_bad_values_are_refused(teacher, argv, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        prepared("--teacher_model", str(teacher), *argv)


@pytest.mark.parametrize("flag, value", [("--teacher_model", "x"), ("--lmbda", "0.2"), ("--seq_kd", "true")])
def test_gkd_arguments_are_refused_by_other_types(flag, value):
    from swiftk.testing import HostScope
    from swiftk_rlhf.args import prepare_dpo

    args = rlhf_args("--rlhf_type", "dpo", flag, value)
    with HostScope(autoload=True), pytest.raises(UsageError, match=f"{flag}: read by --rlhf_type gkd only, not dpo"):
        prepare_dpo(args)


def test_the_cli_prints_one_line_for_a_missing_teacher(tmp_path):
    proc = h.cli(
        "rlhf",
        "--model",
        "swiftk/tiny-chat",
        "--rlhf_type",
        "gkd",
        "--dataset",
        "swiftk/demo-sft",
        "--output_dir",
        str(tmp_path / "gkd"),
        check=False,
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-2000:]
    assert "--teacher_model is required with --rlhf_type gkd" in errors[0]


def test_the_collator_pads_conversations_right_and_prompts_left():
    from swiftk_rlhf.gkd import GKDCollator

    batch = GKDCollator(0)(
        [
            {"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8], "prompt_ids": [5, 6]},
            {"input_ids": [5, 9, 9, 6, 7], "labels": [-100, -100, -100, -100, 7], "prompt_ids": [5, 9, 9, 6]},
        ]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 0], [5, 9, 9, 6, 7]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [[-100, -100, 7, 8, -100], [-100, -100, -100, -100, 7]]
    assert batch["prompts"].tolist() == [[0, 0, 5, 6], [5, 9, 9, 6]]
    assert batch["prompt_attention_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]


# --- real training -------------------------------------------------------------------------------


def answer_jsd(student, teacher) -> float:
    """Mean over the answer tokens of the demo conversations of the JSD (beta 0.5) between the two models'
    next-token distributions (computed here, not with trl's loss)."""
    import torch

    template, _ = h.base_parts()
    total, count = 0.0, 0
    for line in (h.DATA / "demo_sft.jsonl").read_text().splitlines():
        encoded = template.encode(json.loads(line))
        if len(encoded["input_ids"]) > 128:
            continue
        ids = torch.tensor([encoded["input_ids"]])
        mask = torch.tensor(encoded["labels"][1:]) != -100
        with torch.no_grad():
            s = torch.log_softmax(student(input_ids=ids).logits[0, :-1][mask].double(), -1)
            t = torch.log_softmax(teacher(input_ids=ids).logits[0, :-1][mask].double(), -1)
        m = torch.logsumexp(torch.stack([s, t]), 0) - math.log(2)
        kl = lambda p: (p.exp() * (p - m)).sum(-1)  # noqa: E731
        total += float((0.5 * kl(t) + 0.5 * kl(s)).sum())
        count += int(mask.sum())
    return total / count


COMMON = ["--rlhf_type", "gkd", "--dataset", "swiftk/demo-sft", "--max_completion_length", "8"]


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, teacher, one_torch_thread):
    """10 LoRA steps on the dataset's answers (lmbda 0): the step the JSD check measures."""
    out = tmp_path_factory.mktemp("gkd") / "lora"
    argv = [*COMMON, "--teacher_model", str(teacher), "--train_type", "lora", "--lmbda", "0"]
    return h.rlhf(out, *argv, "--max_steps", "10", "--save_steps", "10", "--learning_rate", "1e-3")


@pytest.mark.slow
def test_the_student_moves_toward_the_teacher(distilled, teacher):
    from transformers import AutoModelForCausalLM

    ckpt = h.assert_run_outputs(distilled, "gkd", "lora")
    logs = h.train_logs(distilled)
    assert len(logs) == 10 and all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in logs)
    assert all(r["answers/dataset"] == 1 for r in logs)
    saved = json.loads((ckpt / "args.json").read_text())
    assert (saved["beta"], saved["lmbda"], saved["teacher_model"]) == (0.5, 0.0, str(teacher))
    reference = AutoModelForCausalLM.from_pretrained(teacher).eval()
    before, after = answer_jsd(h.load_policy(), reference), answer_jsd(h.load_policy(ckpt), reference)
    assert after < 0.85 * before, (before, after)


@pytest.mark.slow
def test_the_lora_checkpoint_reloads_in_infer(distilled):
    rows = h.infer("--adapters", str(h.last_checkpoint(distilled)))
    assert len(rows) == 2 and all(isinstance(r["response"], str) for r in rows)


@pytest.mark.slow
def test_teacher_adapters_are_merged_into_the_teacher(distilled):
    """``--teacher_model`` + ``--teacher_adapters``: the base with the adapter merged, frozen, in eval mode."""
    import torch

    from swiftk.testing import HostScope
    from swiftk_rlhf.teacher import load_teacher

    ckpt = h.last_checkpoint(distilled)
    args = prepared("--teacher_model", "swiftk/tiny-chat", "--teacher_adapters", str(ckpt))
    with HostScope(autoload=True):
        teacher = load_teacher(args)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    ids = torch.tensor([[1, 87, 85, 270, 201, 309, 262]])
    with torch.no_grad():
        merged, adapted, base = (m(input_ids=ids).logits for m in (teacher, h.load_policy(ckpt), h.load_policy()))
    assert torch.allclose(merged, adapted, atol=1e-4) and not torch.allclose(merged, base, atol=1e-3)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_on_policy_and_teacher_sampled_steps(tmp_path, teacher):
    """lmbda 0.5 with seq_kd: with seed 42 step 1 trains on the teacher's samples, steps 2-4 on the student's
    (ms-swift's per-step draw); full training; the checkpoint reloads in infer."""
    out = h.rlhf(
        tmp_path / "full",
        *COMMON,
        "--teacher_model",
        str(teacher),
        "--train_type",
        "full",
        "--lmbda",
        "0.5",
        "--seq_kd",
        "true",
        "--seed",
        "42",
        "--max_steps",
        "4",
        "--save_steps",
        "4",
        "--learning_rate",
        "2e-4",
    )
    ckpt = h.assert_run_outputs(out, "gkd", "full")
    logs = h.train_logs(out)
    assert [(r["answers/teacher"], r["answers/student"]) for r in logs] == [(1, 0), (0, 1), (0, 1), (0, 1)]
    assert all(math.isfinite(r["loss"]) for r in logs)
    rows = h.infer("--model", str(ckpt))
    assert len(rows) == 2 and all(isinstance(r["response"], str) for r in rows)


def test_the_answer_source_is_drawn_per_step_as_ms_swift_does():
    import random

    draws = [random.Random(42 + step).random() for step in range(4)]
    assert [d < 0.5 for d in draws] == [False, True, True, True]  # what the test above relies on
