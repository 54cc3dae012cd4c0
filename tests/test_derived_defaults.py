"""Derived defaults of the seed page (swiftk.arguments.derive) and the value checks."""

from __future__ import annotations

import os

import pytest

import swiftk
from swiftk.arguments import derive
from swiftk.arguments.commands import COMMANDS
from swiftk.arguments.derive import derive_defaults, model_suffix, resolve_lazy_tokenize
from swiftk.arguments.fields import arg_infos
from swiftk.errors import UsageError

TS = "20260101-120000"


def command_fields(cmd: str) -> dict:
    out = {}
    for group in COMMANDS[cmd]:
        for info in arg_infos(group):
            out[info.name] = info
    return out


def run(cmd: str, **user):
    """Derive as the parser would: every default, the user's values, the explicit names."""
    values = {name: info.default for name, info in command_fields(cmd).items()}
    unknown = set(user) - set(values)
    assert not unknown, f"{cmd} has no {unknown}"
    values.update(user)
    return derive_defaults(cmd, values, set(user))


@pytest.fixture(autouse=True)
def _fixed_time(monkeypatch, tmp_path):
    monkeypatch.setattr(derive, "_timestamp", lambda: TS)
    monkeypatch.chdir(tmp_path)


# --- training ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "train_type,lr", [("full", 1e-5), ("lora", 1e-4), ("vera", 1e-4), ("adalora", 1e-4), ("reft", 1e-4)]
)
def test_learning_rate_by_train_type(train_type, lr):
    assert run("sft", train_type=train_type)["learning_rate"] == lr
    assert run("rlhf", train_type=train_type)["learning_rate"] == lr


class _FullWeightsTuner:
    @staticmethod
    @swiftk.hookimpl
    def register_tuners(register):
        from swiftk.api import TunerSpec

        register("all_weights", TunerSpec(prepare=lambda model, args: model, full_parameter=True))
        register("some_adapter", TunerSpec(prepare=lambda model, args: model))


def test_a_plugin_tuner_that_trains_the_weights_gets_the_full_learning_rate(bare_swiftk_host):
    bare_swiftk_host.register_plugin(_FullWeightsTuner, "full_weights")
    assert run("sft", train_type="all_weights")["learning_rate"] == 1e-5
    assert run("sft", train_type="some_adapter")["learning_rate"] == 1e-4


def test_learning_rate_explicit_wins():
    assert run("sft", train_type="full", learning_rate=3e-4)["learning_rate"] == 3e-4


def test_output_dir_without_version(tmp_path):
    assert run("sft", model="Qwen/Qwen2.5-0.5B", add_version=False)["output_dir"] == os.path.join(
        "output", "Qwen2.5-0.5B"
    )
    assert run("pt", model="/models/llama/", add_version=False)["output_dir"] == os.path.join("output", "llama")
    assert run("sft", add_version=False)["output_dir"] == "output"
    assert model_suffix(None) is None


def test_output_dir_version_numbering(tmp_path):
    base = os.path.join("output", "m")
    assert run("sft", model="org/m")["output_dir"] == os.path.join(base, f"v0-{TS}")
    assert not (tmp_path / "output").exists(), "deriving must not create folders"
    for name in ("v0-20250101-000000", "v3-20250102-000000", "logs", "vx"):
        (tmp_path / base / name).mkdir(parents=True)
    assert run("sft", model="org/m")["output_dir"] == os.path.join(base, f"v4-{TS}")
    assert run("sft", output_dir="runs")["output_dir"] == os.path.join("runs", f"v0-{TS}")
    assert run("sft", output_dir="runs", add_version=False)["output_dir"] == "runs"


def test_eval_follows_save():
    v = run("sft", save_strategy="epoch", save_steps=100)
    assert (v["eval_strategy"], v["eval_steps"]) == ("epoch", 100)
    v = run("sft")
    assert (v["eval_strategy"], v["eval_steps"]) == ("steps", 500)
    v = run("sft", eval_strategy="no", eval_steps=7)
    assert (v["eval_strategy"], v["eval_steps"]) == ("no", 7)


@pytest.mark.parametrize(
    "cmd,user,metric,greater",
    [
        ("sft", {}, "loss", False),
        ("sft", {"predict_with_generate": True}, "rouge-l", True),
        ("rlhf", {"rlhf_type": "grpo"}, "reward", True),
        ("rlhf", {"rlhf_type": "dpo"}, "loss", False),
        ("rlhf", {"rlhf_type": "ppo"}, None, None),
        ("sft", {"metric_for_best_model": "acc"}, "acc", True),
        ("sft", {"metric_for_best_model": "eval_loss"}, "eval_loss", False),
        ("sft", {"greater_is_better": True}, "loss", True),
    ],
)
def test_best_model_metric(cmd, user, metric, greater):
    v = run(cmd, **user)
    assert (v["metric_for_best_model"], v["greater_is_better"]) == (metric, greater)


def test_task_type_from_num_labels():
    assert run("sft", num_labels=3)["task_type"] == "seq_cls"
    assert run("infer", num_labels=2)["task_type"] == "seq_cls"
    assert run("sft")["task_type"] == "causal_lm"
    with pytest.raises(UsageError, match="--num_labels"):
        run("sft", task_type="seq_cls")


def test_metric_and_generation_for_predict_with_generate():
    v = run("sft")
    assert (v["metric"], v["max_new_tokens"], v["temperature"]) == ("acc", 64, 0.0)
    v = run("sft", predict_with_generate=True)
    assert (v["metric"], v["max_new_tokens"], v["temperature"]) == ("nlg", 64, 0.0)
    assert run("sft", predict_with_generate=True, metric="mine")["metric"] == "mine"


def test_llamapro_groups_and_lazy_tokenize():
    assert run("sft", llamapro_num_new_blocks=6)["llamapro_num_groups"] == 6
    assert run("sft", llamapro_num_new_blocks=6, llamapro_num_groups=2)["llamapro_num_groups"] == 2
    v = run("sft")
    assert v["lazy_tokenize"] is None
    assert resolve_lazy_tokenize(v, is_multimodal=False) is False
    assert resolve_lazy_tokenize(v, is_multimodal=True) is True
    assert resolve_lazy_tokenize(run("sft", lazy_tokenize=False), is_multimodal=True) is False


def test_bnb_compute_dtype_follows_torch_dtype():
    assert run("sft", torch_dtype="bfloat16")["bnb_4bit_compute_dtype"] == "bfloat16"
    assert run("sft", torch_dtype="bfloat16", bnb_4bit_compute_dtype="float32")["bnb_4bit_compute_dtype"] == "float32"
    assert run("sft")["bnb_4bit_compute_dtype"] is None


# --- rlhf ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rlhf_type,beta", [("simpo", 2.0), ("grpo", 0.04), ("dpo", 0.1), ("kto", 0.1), ("ppo", 0.1)])
def test_beta(rlhf_type, beta):
    assert run("rlhf", rlhf_type=rlhf_type)["beta"] == beta


def test_beta_explicit_wins():
    assert run("rlhf", rlhf_type="simpo", beta=0.5)["beta"] == 0.5


def test_rlhf_loss_scale_and_temperature():
    v = run("rlhf")
    assert (v["loss_scale"], v["temperature"]) == ("last_round", 0.9)
    v = run("rlhf", loss_scale="all", temperature=0.3)
    assert (v["loss_scale"], v["temperature"]) == ("all", 0.3)
    assert run("sft")["loss_scale"] == "default"


def test_rlhf_loss_scale_overrides_a_non_explicit_value():
    values = {name: info.default for name, info in command_fields("rlhf").items()}
    values["loss_scale"] = "default"  # e.g. filled from args.json, not given by the user
    assert derive_defaults("rlhf", values, set())["loss_scale"] == "last_round"


def test_cosine_max_len_and_swanlab():
    v = run("rlhf", rlhf_type="grpo", max_completion_length=1024, output_dir="o", add_version=False)
    assert v["cosine_max_len"] == 1024
    assert v["swanlab_exp_name"] == "o"
    assert run("rlhf", max_completion_length=1024, cosine_max_len=99)["cosine_max_len"] == 99


def test_reward_weights_length():
    ok = run("rlhf", rlhf_type="grpo", reward_funcs=["accuracy", "format"], reward_weights=[1.0, 0.5])
    assert ok["reward_weights"] == [1.0, 0.5]
    run("rlhf", rlhf_type="grpo", reward_funcs=["accuracy"], reward_model="rm", reward_weights=[1.0, 2.0])
    assert run("rlhf", rlhf_type="grpo", reward_funcs=["accuracy"])["reward_weights"] is None
    with pytest.raises(UsageError, match=r"^--reward_weights must have one weight per reward function .*: 2\), got 1$"):
        run("rlhf", rlhf_type="grpo", reward_funcs=["accuracy", "format"], reward_weights=[1.0])
    with pytest.raises(UsageError, match="reward model"):
        run("rlhf", rlhf_type="grpo", reward_funcs=["accuracy"], reward_model="rm", reward_weights=[1.0])


# --- other commands -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd,expected",
    [
        ("sft", False),
        ("pt", False),
        ("rlhf", False),
        ("infer", True),
        ("deploy", True),
        ("eval", True),
        ("app", True),
        ("export", True),
        ("merge-lora", True),
        ("sample", True),
    ],
)
def test_load_args_default(cmd, expected):
    assert run(cmd)["load_args"] is expected
    assert run(cmd, load_args=not expected)["load_args"] is (not expected)


def test_temperature_by_command():
    assert run("infer")["temperature"] is None
    assert run("eval")["temperature"] == 0
    assert run("sample")["temperature"] == 1.0
    values = {name: info.default for name, info in command_fields("sample").items()}
    values["temperature"] = None
    assert derive_defaults("sample", values, set())["temperature"] == 1.0


def test_sample_output_dir_and_app_lang():
    assert run("sample")["output_dir"] == "sample_output"
    assert run("app")["lang"] == "en"
    assert run("web-ui")["lang"] == "zh"
    assert run("app", lang="zh")["lang"] == "zh"


def test_served_model_name_and_studio_title():
    assert run("deploy", model="Qwen/Qwen2.5-7B-Instruct")["served_model_name"] == "Qwen2.5-7B-Instruct"
    assert run("deploy", model="m", served_model_name="x")["served_model_name"] == "x"
    assert run("app", model="a/b")["studio_title"] == "b"


def test_result_path(tmp_path):
    assert run("infer", model="org/m")["result_path"] == os.path.join("result", "m", "infer_result", f"{TS}.jsonl")
    assert run("deploy", model="org/m")["result_path"].endswith(os.path.join("deploy_result", f"{TS}.jsonl"))
    assert run("eval", model="org/m")["result_path"].endswith(os.path.join("eval_result", f"{TS}.jsonl"))
    assert run("eval", eval_url="http://localhost:8000/v1")["result_path"] is None
    ckpt = tmp_path / "output" / "v0-x" / "checkpoint-10"
    ckpt.mkdir(parents=True)
    (ckpt / "args.json").write_text("{}")
    assert run("infer", adapters=[str(ckpt)])["result_path"] == os.path.join(str(ckpt), "infer_result", f"{TS}.jsonl")
    assert run("infer", result_path="r.jsonl")["result_path"] == "r.jsonl"


def test_export_output_dir(tmp_path):
    ckpt = tmp_path / "out" / "checkpoint-5"
    ckpt.mkdir(parents=True)
    v = run("merge-lora", adapters=[str(ckpt)])
    assert v["merge_lora"] is True and v["output_dir"] == str(ckpt) + "-merged"
    assert run("export", adapters=[str(ckpt)])["output_dir"] is None  # nothing to export
    assert run("export", adapters=[str(ckpt)], merge_lora=True)["output_dir"] == str(ckpt) + "-merged"
    v = run("export", model="Qwen/Qwen2.5-7B", quant_method="gptq", quant_bits=4)
    assert v["output_dir"] == os.path.join(".", "Qwen2.5-7B-gptq-int4")
    assert run("export", model="m", quant_method="awq", quant_bits=4, output_dir="x")["output_dir"] == "x"
    assert run("merge-lora", merge_lora=False)["merge_lora"] is False


def test_input_not_mutated():
    values = {name: info.default for name, info in command_fields("sft").items()}
    before = dict(values)
    derive_defaults("sft", values, set())
    assert values == before


# --- checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cmd,name,value,message",
    [
        ("sft", "lora_rank", -4, "--lora_rank must be a positive integer, got -4"),
        ("sft", "lora_rank", 0, "--lora_rank must be a positive integer, got 0"),
        ("sft", "lora_alpha", -1, "--lora_alpha must be a positive integer, got -1"),
        ("rlhf", "num_generations", 0, "--num_generations must be a positive integer, got 0"),
        ("sft", "per_device_train_batch_size", 0, "--per_device_train_batch_size must be a positive integer, got 0"),
        ("sft", "dataloader_num_workers", -1, "--dataloader_num_workers must be a non-negative integer, got -1"),
        ("sft", "split_dataset_ratio", 1.5, "--split_dataset_ratio must be between 0 and 1, got 1.5"),
        ("infer", "gpu_memory_utilization", 2.0, "--gpu_memory_utilization must be between 0 and 1, got 2.0"),
        ("sft", "learning_rate", -1e-4, "--learning_rate must be a positive number, got -0.0001"),
        ("deploy", "port", 70000, "--port must be a port number (0-65535), got 70000"),
        ("infer", "max_new_tokens", -1, "--max_new_tokens must be a positive integer, got -1"),
        (
            "sample",
            "data_range",
            [3, 3],
            "--data_range must be two integers 'index count' with 0 <= index < count, got 3 3",
        ),
    ],
)
def test_invalid_values(cmd, name, value, message):
    with pytest.raises(UsageError) as e:
        run(cmd, **{name: value})
    assert str(e.value) == message
    assert "\n" not in str(e.value)


def test_valid_edge_values():
    run("sft", lora_rank=1, split_dataset_ratio=0, dataloader_num_workers=0, max_steps=-1)
    run("sample", data_range=[2, 3])
