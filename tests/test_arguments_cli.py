"""The seed page's arguments through the real `swiftk` command: derived defaults, load_args and
invalid values, each as a user sees them (--print_args, one-line errors, exit code 2)."""

from __future__ import annotations

import json
import os

import pytest

from swiftk.cli.builtin import BUILTIN_COMMANDS
from kernel_support import one_line_error


def printed(swiftk, *argv, cwd=None):
    result = swiftk(*argv, "--print_args", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("command", sorted(BUILTIN_COMMANDS))
def test_print_args_works_for_every_command_without_a_model(swiftk, tmp_path, command):
    args = printed(swiftk, command, cwd=str(tmp_path))
    assert args["command"] == command
    assert not os.listdir(tmp_path)


def test_training_derived_defaults(swiftk, tmp_path):
    sft = printed(swiftk, "sft", "--model", "Qwen/Qwen2.5-0.5B-Instruct", cwd=str(tmp_path))
    assert sft["learning_rate"] == 1e-4 and sft["load_args"] is False
    assert sft["output_dir"].startswith(os.path.join("output", "Qwen2.5-0.5B-Instruct", "v0-"))
    assert sft["eval_strategy"] == sft["save_strategy"] == "steps" and sft["eval_steps"] == sft["save_steps"] == 500
    assert sft["metric_for_best_model"] == "loss" and sft["greater_is_better"] is False and sft["metric"] == "acc"
    full = printed(swiftk, "sft", "--train_type", "full", "--predict_with_generate", "true", "--num_labels", "3")
    assert full["learning_rate"] == 1e-5 and full["metric_for_best_model"] == "rouge-l"
    assert full["greater_is_better"] is True and full["metric"] == "nlg" and full["max_new_tokens"] == 64
    assert full["temperature"] == 0 and full["task_type"] == "seq_cls"
    pt = printed(swiftk, "pt")
    assert pt["use_chat_template"] is False and pt["loss_scale"] == "all"


@pytest.mark.parametrize("rlhf_type, beta", [("dpo", 0.1), ("simpo", 2.0), ("grpo", 0.04), ("kto", 0.1)])
def test_rlhf_derived_defaults(swiftk, rlhf_type, beta):
    args = printed(swiftk, "rlhf", "--rlhf_type", rlhf_type)
    assert args["beta"] == beta and args["loss_scale"] == "last_round" and args["temperature"] == 0.9
    if rlhf_type == "grpo":
        assert args["metric_for_best_model"] == "reward"


def test_other_command_defaults(swiftk):
    assert printed(swiftk, "infer")["load_args"] is True
    assert printed(swiftk, "export")["load_args"] is True
    assert printed(swiftk, "eval")["temperature"] == 0
    sample = printed(swiftk, "sample")
    assert sample["output_dir"] == "sample_output" and sample["temperature"] == 1.0
    assert printed(swiftk, "app")["lang"] == "en"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["sft", "--train_type", "loraa"], "--train_type: 'loraa' is not valid; did you mean 'lora'"),
        (["sft", "--truncation_strategy", "middle"], "--truncation_strategy: 'middle' is not valid; choose from"),
        (["rlhf", "--rlhf_type", "ppoo"], "--rlhf_type: 'ppoo' is not valid; did you mean 'ppo'"),
        (
            ["sft", "--torch_dtype", "float8"],
            "--torch_dtype: 'float8' is not valid; choose from float16, bfloat16, float32",
        ),
        (["sft", "--lora_rank", "-4"], "--lora_rank must be a positive integer, got -4"),
        (
            ["rlhf", "--rlhf_type", "grpo", "--reward_funcs", "accuracy", "format", "--reward_weights", "1"],
            "--reward_weights must have one weight per reward function",
        ),
    ],
)
def test_invalid_values_are_one_line_errors(swiftk, argv, expected):
    result = swiftk(*argv, "--print_args")
    assert result.returncode == 2, result.stdout
    assert expected in one_line_error(result)


def test_load_args_fills_unset_basic_arguments_from_args_json(swiftk, tmp_path):
    run = tmp_path / "output" / "v0-20260101-000000"
    checkpoint = run / "checkpoint-10"
    checkpoint.mkdir(parents=True)
    (run / "args.json").write_text(
        json.dumps(
            {
                "command": "sft",
                "model": "/models/base",
                "model_type": "qwen2",
                "template": "qwen2_5",
                "system": "You are helpful.",
                "dataset": ["train.jsonl"],
                "max_length": 77,
            }
        )
    )
    args = printed(swiftk, "infer", "--adapters", str(checkpoint), "--template", "chatml")
    assert args["model"] == "/models/base" and args["model_type"] == "qwen2"
    assert args["system"] == "You are helpful." and args["template"] == "chatml"  # the command line wins
    assert args["dataset"] == []  # data arguments only with --load_data_args true
    with_data = printed(swiftk, "infer", "--adapters", str(checkpoint), "--load_data_args", "true")
    assert with_data["dataset"] == ["train.jsonl"]
    without = printed(swiftk, "infer", "--adapters", str(checkpoint), "--load_args", "false")
    assert without["model"] is None
