"""swift-plugin-rlhf without training: row encoding, argument checks, trl config values, the pipeline's
contract with a plugin's TrainerSpec, and the errors a user sees."""

from __future__ import annotations

import dataclasses
import json

import pytest

import rlhf_helpers as h
from swiftk.errors import UsageError


@pytest.fixture(scope="module")
def template():
    return h.base_parts()[0]


def rlhf_args(*argv):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        return resolve_arguments("rlhf", ["--model", "swiftk/tiny-chat", *argv])


ROW = {
    "messages": [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "It is 4."}],
    "rejected_response": "It is 5.",
}


class _Columns(list):
    column_names = ["messages", "rejected_response"]


def test_dpo_rows_share_the_prompt_and_end_with_the_end_of_turn(template):
    from swiftk_rlhf.encode import dpo_encoder

    out = dpo_encoder(template, rlhf_args(), _Columns())(ROW)
    tok = template.tokenizer
    assert tok.decode(out["prompt_ids"]).endswith("<|im_start|>assistant\n")
    assert tok.decode(out["chosen_ids"]) == "It is 4.<|im_end|>\n"
    assert tok.decode(out["rejected_ids"]) == "It is 5.<|im_end|>\n"
    # the prompt + chosen is exactly what the template (and so sft and infer) tokenizes
    assert out["prompt_ids"] + out["chosen_ids"] == template.encode(ROW)["input_ids"]


def test_rejected_messages_and_multi_turn_history(template):
    from swiftk_rlhf.encode import encode_pair

    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    row = {
        "messages": history + ROW["messages"],
        "rejected_messages": history + [ROW["messages"][0], {"role": "assistant", "content": "Five."}],
    }
    prompt, chosen, rejected = encode_pair(template, row)
    assert "Hello!" in template.tokenizer.decode(prompt)  # history is prompt, never trained
    assert template.tokenizer.decode(rejected) == "Five.<|im_end|>\n"
    with pytest.raises(ValueError, match="identical"):
        encode_pair(template, {**ROW, "rejected_response": "It is 4."})


def test_cpo_orpo_rows_are_labelled_full_sequences(template):
    from swiftk_rlhf.encode import paired_encoder

    out = paired_encoder(template, rlhf_args(), _Columns())(ROW)
    n = len(out["prompt_input_ids"])
    assert out["chosen_input_ids"][:n] == out["prompt_input_ids"] == out["rejected_input_ids"][:n]
    assert out["chosen_labels"][:n] == [-100] * n and out["chosen_labels"][n:] == out["chosen_input_ids"][n:]
    assert len(out["rejected_attention_mask"]) == len(out["rejected_input_ids"])


def test_rm_and_kto_and_ppo_rows(template):
    from swiftk_rlhf.encode import kto_encoder, prompt_encoder, rm_encoder

    rm = rm_encoder(template, rlhf_args("--rlhf_type", "rm"), _Columns())(ROW)
    assert template.tokenizer.decode(rm["chosen_ids"]).endswith("It is 4.<|im_end|>\n")
    kto = kto_encoder(template, rlhf_args("--rlhf_type", "kto"), _Columns())
    paired = kto(ROW)
    assert paired["kto_labels"] == [True, False] and len(paired["kto_completions"]) == 2
    single = kto({"messages": ROW["messages"], "label": False})
    assert single["kto_labels"] == [False] and single["kto_completions"][0] == paired["kto_completions"][0]
    ppo = prompt_encoder(template, rlhf_args("--rlhf_type", "ppo"), _Columns())(ROW)
    assert template.tokenizer.decode(ppo["input_ids"]).endswith("<|im_start|>assistant\n")


def test_kto_preference_rows_are_unpaired_into_desirable_and_undesirable():
    from swiftk_rlhf.trainers import _unpair

    out = _unpair(
        {"prompt_ids": [[1], [2]], "kto_completions": [[[3], [4]], [[5]]], "kto_labels": [[True, False], [True]]}
    )
    assert out == {"prompt_ids": [[1], [1], [2]], "completion_ids": [[3], [4], [5]], "label": [True, False, True]}


def test_a_dataset_without_rejected_answers_is_refused(template):
    from swiftk_rlhf.encode import dpo_encoder

    class Sft(list):
        column_names = ["messages", "__origin__"]

    with pytest.raises(UsageError, match="--dataset: --rlhf_type dpo needs preference rows.*rejected_response"):
        dpo_encoder(template, rlhf_args(), Sft())


@pytest.mark.parametrize("rlhf_type, beta", [("dpo", 0.1), ("simpo", 2.0), ("kto", 0.1), ("orpo", 0.1)])
def test_beta_defaults_per_type(rlhf_type, beta):
    assert rlhf_args("--rlhf_type", rlhf_type).beta == beta


def test_trl_configs_carry_the_page_parameters():
    from trl import DPOConfig, KTOConfig
    from trl.experimental.cpo import CPOConfig

    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk_rlhf import args as a

    def config(cls, kwargs, *argv):
        args = rlhf_args(*argv, "--output_dir", "/tmp/swiftk-rlhf-unit", "--add_version", "false")
        return to_training_arguments(args, cls, has_eval=False, **getattr(a, kwargs)(args))

    dpo = config(DPOConfig, "dpo_config", "--rpo_alpha", "0.5", "--beta", "0.2")
    assert dpo.loss_type == ["sigmoid", "sft"] and dpo.loss_weights == [1.0, 0.5] and dpo.beta == 0.2
    assert config(DPOConfig, "dpo_config", "--rpo_alpha", "0").loss_type == ["sigmoid"]
    assert config(DPOConfig, "dpo_config", "--label_smoothing", "0.1").loss_type[0] == "robust"
    simpo = config(CPOConfig, "simpo_config", "--rlhf_type", "simpo", "--simpo_gamma", "0.7", "--cpo_alpha", "0.3")
    assert (simpo.loss_type, simpo.beta, simpo.simpo_gamma, simpo.cpo_alpha) == ("simpo", 2.0, 0.7, 0.3)
    kto = config(
        KTOConfig,
        "kto_config",
        "--rlhf_type",
        "kto",
        "--desirable_weight",
        "1.5",
        "--undesirable_weight",
        "0.5",
        "--per_device_train_batch_size",
        "2",
    )
    assert (kto.desirable_weight, kto.undesirable_weight, kto.train_sampling_strategy) == (1.5, 0.5, "sequential")


def test_every_ppo_parameter_reaches_the_ppo_config():
    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk_rlhf.args import ppo_config
    from swiftk_rlhf.ppo import PPOConfig

    values = {
        "num_ppo_epochs": 3,
        "whiten_rewards": True,
        "kl_coef": 0.07,
        "cliprange": 0.3,
        "vf_coef": 0.2,
        "cliprange_value": 0.4,
        "gamma": 0.9,
        "lam": 0.8,
        "num_mini_batches": 2,
        "local_rollout_forward_batch_size": 16,
        "num_sample_generations": 3,
        "response_length": 32,
        "missing_eos_penalty": 1.5,
        "temperature": 0.7,
    }
    argv = [x for k, v in values.items() for x in (f"--{k}", str(v).lower() if isinstance(v, bool) else str(v))]
    args = rlhf_args(
        "--rlhf_type",
        "ppo",
        "--reward_model",
        "x",
        *argv,
        "--output_dir",
        "/tmp/swiftk-rlhf-unit",
        "--add_version",
        "false",
    )
    config = to_training_arguments(args, PPOConfig, has_eval=False, **ppo_config(args))
    assert {k: getattr(config, k) for k in values} == values
    assert {f.name for f in dataclasses.fields(PPOConfig)} >= set(values)


def test_ppo_credit_assignment_by_hand():
    import torch

    from swiftk_rlhf.ppo import clipped_policy_loss, cut_after_stop, gae, last_token, shaped_rewards, whiten

    cut = cut_after_stop(torch.tensor([[5, 2, 7, 7], [5, 6, 7, 8]]), stop_id=2, pad_id=0)
    assert cut.tolist() == [[5, 2, 0, 0], [5, 6, 7, 8]]  # the stop token stays, the rest is padding
    last = last_token(cut, pad_id=0)
    assert last.tolist() == [1, 3]
    rewards = shaped_rewards(torch.zeros(2, 4), torch.tensor([1.0, 2.0]), last)
    assert rewards.tolist() == [[0, 0, 1, 0], [0, 0, 0, 2]]  # one past the end, or the last column
    advantages, returns = gae(rewards, torch.zeros(2, 4), gamma=1.0, lam=1.0)
    assert advantages.tolist() == [[1, 1, 1, 0], [2, 2, 2, 2]]  # zero values: the rewards still to come
    advantages, returns = gae(torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([[1.0, 2.0, 3.0]]), gamma=0.5, lam=0.0)
    assert advantages.tolist() == [[0.0, -0.5, -2.0]] and returns.tolist() == [[1.0, 1.5, 1.0]]  # one-step TD
    mask = torch.tensor([True, True, True, False])
    white = whiten(torch.tensor([1.0, 2.0, 3.0, 100.0]), mask)
    assert white[:3].tolist() == pytest.approx([-1.0, 0.0, 1.0], abs=1e-6)  # unbiased variance of 1, 2, 3 is 1
    loss, clipped, _ = clipped_policy_loss(
        torch.tensor([[2.0]]).log(), torch.zeros(1, 1), torch.ones(1, 1), torch.ones(1, 1, dtype=torch.bool), clip=0.2
    )
    assert (loss.item(), clipped.item()) == (pytest.approx(-1.2), 1.0)  # ratio 2 counts as 1.2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rlhf_type", "ppo"], "--reward_model is required with --rlhf_type ppo"),
        (["--rlhf_type", "ppo", "--reward_model", "a", "b"], "--reward_model takes one model with --rlhf_type ppo"),
        (
            ["--rlhf_type", "kto", "--per_device_train_batch_size", "1"],
            "--per_device_train_batch_size must be at least 2",
        ),
        (
            [
                "--rlhf_type",
                "ppo",
                "--reward_model",
                "x",
                "--per_device_train_batch_size",
                "3",
                "--num_mini_batches",
                "2",
            ],
            "--num_mini_batches 2 must divide",
        ),
        (["--rlhf_type", "rm", "--num_labels", "3"], "--num_labels 3: a reward model"),
        (["--rlhf_type", "dpo", "--packing", "true"], "--packing true: not supported by --rlhf_type dpo"),
    ],
)
def test_argument_errors_come_before_any_model_loads(argv, message, tmp_path, monkeypatch):
    from swiftk.cli.builtin import invoke
    from swiftk.pipelines import model as model_pipeline
    from swiftk.testing import HostScope

    def never(*a, **k):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(model_pipeline, "load_model_and_processor", never)
    with HostScope(autoload=True), pytest.raises(UsageError, match=message.replace("(", r"\(")):
        invoke(
            "rlhf",
            ["--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-dpo", "--output_dir", str(tmp_path), *argv],
            launch=False,
        )


def test_the_cli_prints_one_line_for_a_missing_reward_model_and_a_missing_plugin(tmp_path):
    ppo = h.cli(
        "rlhf",
        "--model",
        "swiftk/tiny-chat",
        "--rlhf_type",
        "ppo",
        "--dataset",
        "swiftk/demo-dpo",
        "--output_dir",
        str(tmp_path / "ppo"),
        check=False,
    )
    errors = [line for line in ppo.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert ppo.returncode == 2 and len(errors) == 1 and "--reward_model is required" in errors[0], ppo.stderr[-2000:]
    grpo = h.cli(
        "rlhf",
        "--model",
        "swiftk/tiny-chat",
        "--rlhf_type",
        "grpo",
        "--dataset",
        "swiftk/demo-dpo",
        "--output_dir",
        str(tmp_path / "grpo"),
        check=False,
        env={"SWIFTK_DISABLED_PLUGINS": "grpo"},
    )
    assert grpo.returncode == 2 and "swift-plugin-grpo" in grpo.stderr, grpo.stderr[-2000:]


# --- the pipeline's contract with a plugin's TrainerSpec (how grpo plugs in) --------------------


class RecordingTrainer:
    """A stand-in trainer: records what the rlhf pipeline hands it."""

    seen: dict = {}

    def __init__(self, **kwargs):
        RecordingTrainer.seen = kwargs
        self.model = kwargs["model"]

    def train(self, resume_from_checkpoint=None):
        RecordingTrainer.seen["trained"] = True


def test_a_plugin_type_gets_its_encoder_config_and_reference_model(tmp_path, register_plugin):
    import swiftk
    from swiftk.cli.builtin import invoke
    from swiftk.specs import TrainerSpec

    calls = []

    class ToyPlugin:
        @swiftk.hookimpl
        def register_trainers(self, register):
            register(
                "toy",
                TrainerSpec(
                    trainer_cls=RecordingTrainer,
                    args_cls="swiftk_rlhf.ppo:PPOConfig",
                    data_kind="prompt",
                    prepare_args=lambda args: calls.append("prepare_args"),
                    config_kwargs=lambda args: {"kl_coef": 0.5},
                    encode=lambda template, args, dataset: lambda row: {"n": len(row["messages"])},
                    ref_model=True,
                ),
            )

    register_plugin(ToyPlugin(), "toy")
    code, _ = invoke(
        "rlhf",
        [
            *h.COMMON,
            "--rlhf_type",
            "toy",
            "--dataset",
            "swiftk/demo-dpo#4",
            "--train_type",
            "full",
            "--output_dir",
            str(tmp_path),
        ],
        launch=False,
    )
    seen = RecordingTrainer.seen
    assert code == 0 and calls == ["prepare_args"] and seen["trained"]
    assert seen["args"].kl_coef == 0.5 and seen["train_dataset"]["n"] == [2, 2, 2, 2]
    assert seen["ref_model"] is not None and seen["ref_model"] is not seen["model"]  # full: a frozen copy
    assert not any(p.requires_grad for p in seen["ref_model"].parameters())
    assert seen["data_collator"] is None and seen["template"] is not None and seen["swift_args"].rlhf_type == "toy"
    assert json.loads((tmp_path / "args.json").read_text())["rlhf_type"] == "toy"


def test_a_missing_reward_or_reference_model_names_its_own_flag(tmp_path):
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    for argv, message in (
        (["--rlhf_type", "ppo", "--reward_model", str(tmp_path / "nowhere")], "--reward_model "),
        (["--rlhf_type", "dpo", "--ref_model", str(tmp_path / "nowhere")], "--ref_model "),
    ):
        with HostScope(autoload=True), pytest.raises(UsageError) as error:
            invoke(
                "rlhf",
                [
                    *h.COMMON,
                    "--dataset",
                    "swiftk/demo-dpo#4",
                    "--max_steps",
                    "1",
                    "--output_dir",
                    str(tmp_path / "out"),
                    *argv,
                ],
                launch=False,
            )
        assert str(error.value).startswith(message) and "no such folder" in str(error.value), str(error.value)


def test_a_reward_model_must_have_one_output_and_real_adapters(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from swiftk_rlhf.reward_model import one_output_classifier

    tiny = h.DATA.parents[2] / "demo" / "swiftk_demo" / "tiny-chat"
    two = AutoModelForSequenceClassification.from_pretrained(str(tiny), num_labels=2)
    with pytest.raises(UsageError, match=r"^--reward_model x: the model has 2 outputs; a reward model has one"):
        one_output_classifier(two, [], "--reward_adapters", "--reward_model x")
    with pytest.raises(UsageError, match=r"^--adapters: .* has no adapter_config.json"):
        one_output_classifier(two, [str(tmp_path)], "--adapters", "--model x")
    one = AutoModelForSequenceClassification.from_pretrained(str(tiny), num_labels=1)
    assert one_output_classifier(one, [], "--reward_adapters", "--reward_model x") is one
