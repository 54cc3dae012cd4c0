"""--load_args: filling basic arguments from a saved args.json (swiftk.arguments.load_args)."""

from __future__ import annotations

import json

import pytest

from swiftk.arguments.commands import COMMANDS
from swiftk.arguments.fields import arg_infos
from swiftk.arguments.load_args import apply_saved_args, find_saved_args, load_keys
from swiftk.errors import UsageError

SAVED = {
    "model": "Qwen/Qwen2.5-0.5B-Instruct",
    "model_type": "qwen2_5",
    "model_revision": "master",
    "torch_dtype": "bfloat16",
    "template": "qwen2_5",
    "system": "You are helpful.",
    "tools_prompt": "react_zh",
    "train_type": "lora",
    "tuner_backend": "peft",
    "max_length": 4096,
    "quant_method": "bnb",
    "quant_bits": 4,
    "bnb_4bit_quant_type": "fp4",
    "num_labels": None,
    "dataset": ["alpaca#500"],
    "val_dataset": ["val.jsonl"],
    "split_dataset_ratio": 0.2,
    "model_name": ["小黄", "Xiao Huang"],
    "temperature": 0.3,
    "max_new_tokens": 99,
    "stop_words": ["</s>"],
    "adapters": ["elsewhere"],
    "load_args": False,
    "hub_token": "secret",
    "learning_rate": 1e-4,
    "lora_rank": 16,
    "output_dir": "output/v0-x",
}


def defaults(cmd: str) -> dict:
    out = {}
    for group in COMMANDS[cmd]:
        for info in arg_infos(group):
            out[info.name] = info.default
    return out


@pytest.fixture
def run_dir(tmp_path):
    """A training output folder: args.json in the run folder, a checkpoint folder inside."""
    run = tmp_path / "output" / "v0-20260101-000000"
    ckpt = run / "checkpoint-10"
    ckpt.mkdir(parents=True)
    (run / "args.json").write_text(json.dumps(SAVED), encoding="utf-8")
    return run


def load(cmd: str, **user):
    values = defaults(cmd)
    values.update(user)
    return apply_saved_args(cmd, values, set(user))


def test_fills_basic_arguments_from_the_parent_of_a_checkpoint(run_dir):
    v = load("infer", adapters=[str(run_dir / "checkpoint-10")])
    assert v["model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert v["model_type"] == "qwen2_5" and v["model_revision"] == "master"
    assert v["torch_dtype"] == "bfloat16" and v["template"] == "qwen2_5"
    assert v["system"] == "You are helpful." and v["tools_prompt"] == "react_zh"
    assert v["quant_method"] == "bnb" and v["quant_bits"] == 4 and v["bnb_4bit_quant_type"] == "fp4"
    assert v["adapters"] == [str(run_dir / "checkpoint-10")]  # the pointer itself is never replaced
    assert v["num_labels"] is None  # a saved null never overwrites


def test_never_loaded(run_dir):
    v = load("infer", adapters=[str(run_dir)])
    # generation arguments
    assert v["temperature"] is None and v["max_new_tokens"] is None and v["stop_words"] == []
    # max_length means the max prompt length outside training
    assert v["max_length"] is None
    assert v["hub_token"] is None and v["load_args"] is None  # saved False not copied
    assert "learning_rate" not in v and "lora_rank" not in v  # not arguments of infer


def test_explicit_values_win(run_dir):
    v = load("infer", adapters=[str(run_dir)], template="chatml", torch_dtype="float16", system="Be brief.")
    assert (v["template"], v["torch_dtype"], v["system"]) == ("chatml", "float16", "Be brief.")
    assert v["model_type"] == "qwen2_5"


def test_data_arguments_only_with_load_data_args(run_dir):
    v = load("infer", adapters=[str(run_dir)])
    assert v["dataset"] == [] and v["val_dataset"] == [] and v["split_dataset_ratio"] == 0.01
    assert v["model_name"] is None
    v = load("infer", adapters=[str(run_dir)], load_data_args=True)
    assert v["dataset"] == ["alpaca#500"] and v["val_dataset"] == ["val.jsonl"]
    assert v["split_dataset_ratio"] == 0.2 and v["model_name"] == ["小黄", "Xiao Huang"]
    v = load("infer", adapters=[str(run_dir)], load_data_args=True, dataset=["mine.jsonl"])
    assert v["dataset"] == ["mine.jsonl"]


def test_off_by_default_for_training_and_when_disabled(run_dir):
    v = load("sft", resume_from_checkpoint=str(run_dir / "checkpoint-10"))
    assert v["model"] is None and v["template"] is None
    v = load("sft", resume_from_checkpoint=str(run_dir / "checkpoint-10"), load_args=True)
    assert v["model"] == "Qwen/Qwen2.5-0.5B-Instruct" and v["max_length"] == 4096
    assert v["learning_rate"] is None  # training arguments are not basic arguments
    v = load("infer", adapters=[str(run_dir)], load_args=False)
    assert v["model"] is None


def test_model_folder_with_args_json(run_dir):
    # full-parameter training: --model points at the checkpoint; model stays explicit
    v = load("infer", model=str(run_dir / "checkpoint-10"))
    assert v["model"] == str(run_dir / "checkpoint-10")
    assert v["template"] == "qwen2_5"


def test_export_keeps_its_own_quant_method_and_max_length(run_dir):
    v = load("export", adapters=[str(run_dir)])
    assert v["quant_method"] is None and v["max_length"] == 2048
    assert v["model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert "quant_method" not in load_keys("export", False)
    assert "quant_method" in load_keys("infer", False)


def test_no_args_json_is_a_no_op(tmp_path):
    (tmp_path / "plain").mkdir()
    values = defaults("infer")
    values["adapters"] = [str(tmp_path / "plain")]
    assert apply_saved_args("infer", values, {"adapters"}) == values
    assert find_saved_args({"model": "Qwen/Qwen2.5-7B"}) is None


def test_adapters_come_first(run_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "args.json").write_text(json.dumps({"template": "llama3"}), encoding="utf-8")
    v = load("infer", adapters=[str(other)], model=str(run_dir))
    assert v["template"] == "llama3"


def test_unreadable_args_json(tmp_path):
    (tmp_path / "args.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="--load_args"):
        load("infer", adapters=[str(tmp_path)])
