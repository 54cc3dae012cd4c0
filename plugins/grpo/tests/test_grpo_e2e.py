"""GRPO trains the demo model: every built-in reward, third-party rewards, a reward model, full training
against a reference, the reward rising over 80 steps, and rewards that misbehave stopping the run.

Runs in this process (the imports are paid once) with one torch thread: the suite shares two cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import grpo_helpers as h

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]


def test_lora_grpo_with_every_builtin_reward_logs_completions_and_loads_in_infer(tmp_path):
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "3",
        "--save_steps",
        "2",
        "--reward_funcs",
        "accuracy",
        "format",
        "cosine",
        "repetition",
        "--reward_weights",
        "1",
        "0.5",
        "0.5",
        "0.25",
        "--log_completions",
        "true",
    )
    logs = h.train_logs(out)
    assert len(logs) == 3
    for name in ("accuracy", "format", "cosine", "repetition"):
        assert all(f"rewards/{name}/mean" in row for row in logs), logs[0].keys()
    # the weighted sum trl reports is ours: 1*acc + .5*format + .5*cosine + .25*repetition
    first = logs[0]
    weighted = (
        first["rewards/accuracy/mean"]
        + 0.5 * first["rewards/format/mean"]
        + 0.5 * first["rewards/cosine/mean"]
        + 0.25 * first["rewards/repetition/mean"]
    )
    assert first["reward"] == pytest.approx(weighted, abs=1e-3)

    rows = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 8 and {r["step"] for r in rows} == {0, 1, 2}
    assert set(rows[0]["rewards"]) == {"accuracy", "format", "cosine", "repetition"}
    assert rows[0]["prompt"][-1]["role"] == "user" and isinstance(rows[0]["completion"], str)
    # each group of 4 shares its prompt; completions were sampled, so they are not all the same
    assert all(rows[i]["prompt"] == rows[i - i % 4]["prompt"] for i in range(len(rows)))

    saved = json.loads((out / "args.json").read_text())
    assert saved["rlhf_type"] == "grpo" and saved["reward_funcs"] == ["accuracy", "format", "cosine", "repetition"]
    ckpt = h.last_checkpoint(out)
    assert ckpt.name == "checkpoint-3" and (ckpt / "args.json").is_file()
    assert (ckpt / "adapter_model.safetensors").is_file()
    assert (out / "checkpoint-2").is_dir()
    saved_rows = (out / "checkpoint-2" / "completions.jsonl").read_text().splitlines()
    assert len(saved_rows) == 2 * 8  # the rollouts up to that checkpoint travel with it
    assert not any(p.name.startswith("ref") for p in ckpt.iterdir())  # no frozen "ref" adapter copy

    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    result = tmp_path / "infer.jsonl"
    with HostScope(autoload=True):
        code, _ = invoke(
            "infer",
            [
                "--adapters",
                str(ckpt),
                "--val_dataset",
                "swiftk/demo-grpo-sums#2",
                "--max_new_tokens",
                "8",
                "--temperature",
                "0",
                "--result_path",
                str(result),
            ],
            launch=False,
        )
    assert code == 0 and len(result.read_text().splitlines()) == 2


def test_grpo_raises_the_mean_accuracy_of_the_demo_model(tmp_path):
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--reward_funcs",
        "accuracy",
        "--num_generations",
        "8",
        "--per_device_train_batch_size",
        "32",
        "--max_steps",
        "60",
        "--learning_rate",
        "1e-3",
        "--save_steps",
        "1000",
        "--seed",
        "42",
    )
    rewards = [row["reward"] for row in h.train_logs(out)]
    assert len(rewards) == 60
    first, last = sum(rewards[:10]) / 10, sum(rewards[-20:]) / 20
    print(f"mean accuracy reward: first 10 steps {first:.3f}, last 20 steps {last:.3f}")
    assert last > first + 0.2, rewards  # seeds 1, 2, 42: about 0.2-0.35 -> 0.8-0.9


def test_third_party_rewards_from_a_plugin_file_and_an_ms_swift_file(tmp_path):
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "2",
        "--external_plugins",
        str(h.CONTRIB / "external_reward_plugin.py"),
        str(h.CONTRIB / "ms_swift_reward_plugin.py"),
        "--reward_funcs",
        "has_answer_tag",
        "external_math_format",
        "accuracy",
        "--num_iterations",
        "2",
    )
    logs = h.train_logs(out)
    for name in ("has_answer_tag", "external_math_format", "accuracy"):
        assert f"rewards/{name}/mean" in logs[-1]


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    flags = [
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "2",
        "--save_steps",
        "1",
        "--reward_funcs",
        "accuracy",
        "--log_completions",
        "true",
    ]
    first = h.grpo(tmp_path / "run", *flags)
    (first / "checkpoint-2").rename(first / "lost")  # as if the run stopped after checkpoint-1
    h.grpo(tmp_path / "run", *flags, "--resume_from_checkpoint", str(first / "checkpoint-1"))
    state = json.loads((first / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and [r["step"] for r in state["log_history"] if "reward" in r] == [1, 2]
    # the rollouts are those of checkpoint-1 and the resumed step, none twice
    steps = [json.loads(line)["step"] for line in (first / "completions.jsonl").read_text().splitlines()]
    assert steps == [0] * 8 + [1] * 8


def test_two_ranks_under_torchrun_share_the_rollouts(tmp_path):
    """gloo DDP on CPU: each rank rolls out its 8 completions, rewards are gathered, both train as one."""
    out = tmp_path / "run"
    proc = h.cli(
        "rlhf",
        *h.COMMON,
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "2",
        "--reward_funcs",
        "accuracy",
        "--log_completions",
        "true",
        "--output_dir",
        str(out),
        env={"NPROC_PER_NODE": "2", "MASTER_PORT": "29735"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len((out / "completions.jsonl").read_text().splitlines()) == 2 * 2 * 8  # steps x ranks x completions
    assert [row["global_step"] for row in h.train_logs(out)] == [1, 2]


def test_full_training_kl_is_measured_against_the_reference_model(tmp_path):
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "3",
        "--train_type",
        "full",
        "--learning_rate",
        "1e-3",
        "--reward_funcs",
        "accuracy",
    )
    logs = h.train_logs(out)
    assert logs[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # the first step: policy == reference
    assert logs[-1]["kl"] > 0  # then the policy moved away from the frozen reference
    assert (h.last_checkpoint(out) / "model.safetensors").is_file()


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory):
    """A one-output classifier on the demo model's weights (what --rlhf_type rm starts from)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("rm")
    model = AutoModelForSequenceClassification.from_pretrained(str(h.TINY_CHAT), num_labels=1)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(h.TINY_CHAT)).save_pretrained(folder)
    return folder


def test_the_reward_model_is_appended_last_and_weighted(tmp_path, reward_model):
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "2",
        "--reward_funcs",
        "accuracy",
        "--reward_model",
        str(reward_model),
        "--reward_weights",
        "1",
        "2",
    )
    logs = h.train_logs(out)
    row = logs[-1]
    assert "rewards/reward_model/mean" in row and row["rewards/reward_model/mean"] != 0
    expected = row["rewards/accuracy/mean"] + 2 * row["rewards/reward_model/mean"]
    assert row["reward"] == pytest.approx(expected, abs=1e-3)


def test_several_reward_models_each_give_a_weighted_reward(tmp_path, reward_model):
    """Later ms-swift's --reward_model A B: one reward per model, after the functions, each with its weight."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    second = tmp_path / "rm2"
    torch.manual_seed(1)  # another score head: another reward
    model = AutoModelForSequenceClassification.from_pretrained(str(h.TINY_CHAT), num_labels=1)
    model.save_pretrained(second)
    AutoTokenizer.from_pretrained(str(h.TINY_CHAT)).save_pretrained(second)
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "1",
        "--reward_funcs",
        "accuracy",
        "--reward_model",
        str(reward_model),
        str(second),
        "--reward_weights",
        "1",
        "0.5",
        "2",
    )
    row = h.train_logs(out)[-1]
    first, other = row["rewards/reward_model_0/mean"], row["rewards/reward_model_1/mean"]
    assert first != other
    assert row["reward"] == pytest.approx(row["rewards/accuracy/mean"] + 0.5 * first + 2 * other, abs=1e-3)
    saved = json.loads((out / "args.json").read_text())
    assert saved["reward_model"] == [str(reward_model), str(second)]


BAD_REWARDS = '''
import swiftk


def wrong_length(completions, **columns):
    return [1.0]


def not_a_number(completions, **columns):
    return [float("nan")] * len(completions)


def raises(completions, **columns):
    return {}["missing"]


@swiftk.hookimpl
def register_rewards(register):
    register("wrong_length", wrong_length)
    register("not_a_number", not_a_number)
    register("raises", raises)
'''


@pytest.mark.parametrize(
    "name, message",
    [
        ("wrong_length", "returned 1 values for 8 completions"),
        ("not_a_number", "returned nan for completion 0"),
        ("raises", "raised KeyError: 'missing' (/"),
    ],
)
def test_a_misbehaving_reward_stops_the_command_with_one_line_naming_it(tmp_path, name, message):
    plugin = tmp_path / "bad_rewards.py"
    plugin.write_text(BAD_REWARDS)
    proc = h.cli(
        "rlhf",
        *h.COMMON,
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--max_steps",
        "1",
        "--external_plugins",
        str(plugin),
        "--reward_funcs",
        name,
        "--output_dir",
        str(tmp_path / "run"),
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1, proc.stderr[-3000:]
    assert f"reward function '{name}'" in errors[0] and message in errors[0], errors[0]
    assert "bad_rewards" in errors[0]  # the plugin (or the file and line) is named
    assert not list(Path(tmp_path / "run").glob("checkpoint-*"))
