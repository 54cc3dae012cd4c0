"""Later ms-swift (3.5-3.12) GRPO options: parsed in ms-swift's forms, refused where they cannot run, and
acting as documented: advantages on fixed rewards, the loss on a fixed batch of a real trainer, and two
short real runs of the demo model (whose trainer the batch tests reuse).
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

import grpo_helpers as h
import swiftk
from swiftk.errors import UsageError
from swiftk_grpo.advantages import group_advantages, sequence_kl, zero_std_groups
from swiftk_grpo.batches import concat_rows, select_rows

K = 4


def resolve(*argv: str):
    from swiftk.cli.builtin import resolve_arguments

    return resolve_arguments("rlhf", ["--rlhf_type", "grpo", "--model", "swiftk/tiny-chat", *argv])


def config(*argv: str):
    from trl import GRPOConfig

    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk_grpo.args import grpo_config, prepare_grpo

    args = resolve("--reward_funcs", "accuracy", "--num_generations", "4", "--output_dir", "/tmp/x", *argv)
    prepare_grpo(args)
    return to_training_arguments(args, GRPOConfig, has_eval=False, **grpo_config(args))


# --- advantages on a fixed reward vector ---------------------------------------------------------

REWARDS = torch.tensor([0.0, 1.0, 0.0, 1.0, 3.0, 1.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0])


def test_rloo_advantage_is_the_reward_minus_the_mean_of_the_others():
    loo = [r - (sum(g) - r) / (K - 1) for g in REWARDS.view(-1, K).tolist() for r in g]
    assert group_advantages(REWARDS, K, "rloo", "none").tolist() == pytest.approx(loo)
    std = REWARDS.view(-1, K).std(dim=1).repeat_interleave(K)
    assert group_advantages(REWARDS, K, "rloo", "group") == pytest.approx(torch.tensor(loo) / (std + 1e-4))


def test_grpo_and_reinforce_plus_plus_advantages():
    grouped = REWARDS.view(-1, K)
    centered = (grouped - grouped.mean(dim=1, keepdim=True)).flatten()
    std = grouped.std(dim=1).repeat_interleave(K)
    assert group_advantages(REWARDS, K, "grpo", "group") == pytest.approx(centered / (std + 1e-4))
    assert group_advantages(REWARDS, K, "grpo", "batch") == pytest.approx(centered / (REWARDS.std() + 1e-4))
    # REINFORCE++ whitens by the std of the advantages over the batch, not of the rewards
    rpp = group_advantages(REWARDS, K, "reinforce_plus_plus", "batch")
    assert rpp == pytest.approx(centered / (centered.std() + 1e-4))
    assert not torch.allclose(rpp, group_advantages(REWARDS, K, "grpo", "batch"))
    assert group_advantages(REWARDS, K, "reinforce_plus_plus", "none") == pytest.approx(centered)


def test_zero_std_groups_and_the_kl_in_the_reward():
    assert zero_std_groups(REWARDS, K).tolist() == [False, False, True]
    old, ref = torch.tensor([[-1.0, -2.0, -3.0]]), torch.tensor([[-1.5, -2.0, -1.0]])
    assert sequence_kl(old, ref, torch.tensor([[1, 1, 0]])).tolist() == [0.5]


def test_rows_of_batches_of_different_widths_join_with_their_padding_sides():
    a = {"prompt_ids": torch.tensor([[5, 6]]), "completion_ids": torch.tensor([[7]]), "advantages": torch.ones(1)}
    b = {"prompt_ids": torch.tensor([[1, 2, 3]]), "completion_ids": torch.tensor([[8, 9]]), "advantages": torch.ones(1)}
    joined = concat_rows([a, select_rows(b, torch.tensor([True]))], pad_token_id=0)
    assert joined["prompt_ids"].tolist() == [[0, 5, 6], [1, 2, 3]]  # prompts left-padded
    assert joined["completion_ids"].tolist() == [[7, 0], [8, 9]]  # completions right-padded


# --- ms-swift 3.12 forms on the command line -------------------------------------------------------


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            ("--epsilon", "3e-4", "--epsilon_high", "4e-4", "--steps_per_generation", "4"),
            {"epsilon": 3e-4, "epsilon_high": 4e-4, "steps_per_generation": 4},
        ),
        (("--importance_sampling_level", "sequence"), {"importance_sampling_level": "sequence"}),
        (("--overlong_filter", "true"), {"mask_truncated_completions": True}),
        (("--loss_type", "dapo"), {"loss_type": "dapo"}),
        (("--loss_type", "sapo", "--tau_pos", "1", "--tau_neg", "1.05"), {"loss_type": "sapo"}),
        ((), {"loss_type": "grpo", "scale_rewards": "group"}),
        (("--scale_rewards", "false"), {"scale_rewards": "none"}),
        (("--scale_rewards", "true"), {"scale_rewards": "group"}),
        (("--scale_rewards", "batch"), {"scale_rewards": "batch"}),
        (("--advantage_estimator", "rloo"), {"scale_rewards": "none"}),
        (("--advantage_estimator", "reinforce_plus_plus"), {"scale_rewards": "batch"}),
        (("--generation_batch_size", "16"), {"generation_batch_size": 16}),
    ],
)
def test_ms_swift_3_12_forms_reach_trls_config(argv, expected):
    cfg = config("--per_device_train_batch_size", "4", *argv)
    assert {k: getattr(cfg, k) for k in expected} == pytest.approx(expected)


def test_sapo_temperatures_and_vllm_sleep_reach_trl():
    from swiftk_grpo.args import grpo_config

    values = grpo_config(resolve("--loss_type", "sapo", "--tau_pos", "2", "--tau_neg", "3"))
    assert (values["sapo_temperature_pos"], values["sapo_temperature_neg"]) == (2.0, 3.0)
    values = grpo_config(resolve("--use_vllm", "true", "--vllm_mode", "colocate", "--sleep_level", "1"))
    assert values["vllm_enable_sleep_mode"] and values["vllm_mode"] == "colocate"


G = ("--reward_funcs", "accuracy", "--num_generations", "4", "--per_device_train_batch_size", "4")


@pytest.mark.parametrize(
    "argv, message",
    [
        (("--importance_sampling_level", "sequence_token"), "sequence_token .GSPO-token. is not supported"),
        (("--loss_type", "sigmoid"), "--loss_type sigmoid: not a GRPO loss; choose from grpo, bnpo"),
        (("--scale_rewards", "std"), "--scale_rewards std: choose from group, batch, none"),
        (("--epsilon_high", "0.1"), r"--epsilon_high \(0.1\) must be >= --epsilon"),
        (("--max_resample_times", "5"), "used by --dynamic_sample true only"),
        (("--vllm_mode", "colocate"), "--vllm_mode colocate needs --use_vllm true"),
        (("--sleep_level", "1"), "--sleep_level 1 puts vLLM to sleep: it needs --use_vllm true"),
        (("--use_vllm", "true", "--vllm_mode", "server"), "--vllm_mode server needs --vllm_server_host"),
        (("--vllm_server_host", "127.0.0.1"), "--vllm_server_host: only used with --vllm_mode server"),
        (("--offload_model", "true", "--offload_optimizer", "true"), "--offload_model true, --offload_optimizer"),
        (("--move_model_batches", "10"), "--move_model_batches 10: not implemented"),
        (("--steps_per_generation", "3", "--per_device_train_batch_size", "2"), r"--steps_per_generation \(3\)"),
        (("--generation_batch_size", "6"), r"--generation_batch_size \(6\) must be a multiple"),
    ],
)
def test_what_cannot_run_here_is_refused_with_the_reason(argv, message):
    from swiftk_grpo.args import prepare_grpo

    with pytest.raises(UsageError, match=message):
        prepare_grpo(resolve(*G, *argv))


def test_dynamic_sample_is_refused_across_processes(monkeypatch):
    from swiftk_grpo.args import prepare_grpo

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UsageError, match="--dynamic_sample true runs in one process only"):
        prepare_grpo(resolve(*G, "--dynamic_sample", "true"))


def test_loss_type_takes_one_grpo_loss():
    from swiftk_grpo.args import prepare_grpo

    with pytest.raises(UsageError, match="--loss_type takes one value for --rlhf_type grpo, got grpo dapo"):
        prepare_grpo(resolve(*G, "--loss_type", "grpo", "dapo"))


# --- two short real runs; their trainers serve the batch tests -------------------------------------

PARITY_CALLS: list = []


def parity(completions, solution, **kwargs):
    """1 for every completion of an even sum (a group with no signal); else 0, 1, 0, 1 within the group."""
    PARITY_CALLS.append(list(solution))
    return [1.0 if int(s) % 2 == 0 else float(i % 2) for i, s in enumerate(solution)]


class _Plugin:
    trainer = None

    @swiftk.hookimpl
    def register_rewards(self, register):
        register("parity", parity)

    @swiftk.hookimpl
    def post_trainer_create(self, args, trainer):
        _Plugin.trainer = trainer


def _run(out, *argv):
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    plugin = _Plugin()
    with HostScope(autoload=True) as host:
        host.register_plugin(plugin, "grpo_later_test")
        code, _ = invoke("rlhf", [*h.COMMON, *argv, "--output_dir", str(out)], launch=False)
        assert code == 0
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return _Plugin.trainer, [r for r in rows if "loss" in r and "train_runtime" not in r]


@pytest.fixture(scope="module")
def dapo_run(tmp_path_factory, one_torch_thread):
    """LoRA, rloo with the KL in the reward, dynamic sampling, GSPO ratios, clip-higher, bnpo, overlong filter."""
    trainer, logs = _run(
        tmp_path_factory.mktemp("dapo"),
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--reward_funcs",
        "parity",
        "--per_device_train_batch_size",
        "8",
        "--steps_per_generation",
        "2",
        "--max_steps",
        "2",
        "--advantage_estimator",
        "rloo",
        "--kl_in_reward",
        "true",
        "--beta",
        "0.04",
        "--dynamic_sample",
        "true",
        "--epsilon_high",
        "0.28",
        "--importance_sampling_level",
        "sequence",
        "--loss_type",
        "bnpo",
        "--overlong_filter",
        "true",
        "--save_strategy",
        "no",
    )
    yield trainer, logs
    trainer.rollout.close()


@pytest.mark.slow
def test_the_options_reach_the_trainer_and_the_run_logs_them(dapo_run):
    trainer, logs = dapo_run
    assert len(logs) == 2
    assert (trainer.epsilon_low, trainer.epsilon_high) == pytest.approx((0.2, 0.28))
    assert trainer.importance_sampling_level == "sequence" and trainer.loss_type == "bnpo"
    assert trainer.mask_truncated_completions and trainer.args.steps_per_generation == 2
    assert trainer.args.generation_batch_size == 16  # 8 per step x 2 steps per generation
    assert (trainer.advantage_estimator, trainer.scale_rewards, trainer.kl_in_reward) == ("rloo", "none", True)
    assert trainer.ref_model is None and trainer.beta == 0.04  # LoRA: the reference is the base model
    first, second = logs  # one generation round feeds both steps
    assert "dynamic_sample/zero_std_groups" in first and "kl" in first and "reward" not in second


def _rows(trainer, solutions):
    """Generation-batch rows: each of the dataset's first prompts with the given solution, K times."""
    rows, seen = [], set()
    for row in trainer.train_dataset:
        if row["solution"] in solutions and row["solution"] not in seen:
            seen.add(row["solution"])
            rows.extend(dict(row) for _ in range(K))
        if len(seen) == len(solutions):
            return rows
    raise AssertionError(f"no prompts with solutions {solutions}")


@pytest.mark.slow
def test_dynamic_sample_drops_zero_std_groups_and_fills_the_batch(dapo_run):
    trainer, _ = dapo_run
    trainer.model.train()
    PARITY_CALLS.clear()
    before = dict(trainer.dynamic_sample_counts)
    batch = trainer._generate_and_score_completions(_rows(trainer, ["2", "4", "3", "5"]))
    groups = [calls[i : i + K] for calls in PARITY_CALLS for i in range(0, len(calls), K)]
    even = sum(int(g[0]) % 2 == 0 for g in groups)
    assert even >= 2 and len(PARITY_CALLS) >= 2  # the two even groups of the first round forced a resample
    assert trainer.dynamic_sample_counts["dropped_groups"] - before["dropped_groups"] == even
    assert trainer.dynamic_sample_counts["rounds"] - before["rounds"] == len(PARITY_CALLS) - 1
    assert batch["advantages"].shape == (16,) and batch["completion_ids"].shape[0] == 16
    # every group trained on has a signal: rloo of 0, 1, 0, 1 is -2/3, 2/3, ... (KL aside)
    assert (batch["advantages"].view(-1, K).abs() > 0.3).all()
    assert int(batch["num_items_in_batch"]) == int(batch["completion_mask"].sum())


@pytest.mark.slow
def test_rloo_advantages_in_the_trainer_are_leave_one_out(dapo_run):
    trainer, _ = dapo_run
    trainer.model.train()
    trainer.kl_in_reward, trainer.dynamic_sample = False, False
    try:
        out = trainer._generate_and_score_completions(_rows(trainer, ["3", "4"]))
    finally:
        trainer.kl_in_reward, trainer.dynamic_sample = True, True
    # rewards 0, 1, 0, 1 (odd sum) and 1, 1, 1, 1 (even): leave-one-out, unscaled
    expected = [-2 / 3, 2 / 3, -2 / 3, 2 / 3, 0, 0, 0, 0]
    assert out["advantages"].tolist() == pytest.approx(expected, abs=1e-5)


@pytest.mark.slow
def test_overlong_filter_masks_truncated_completions(dapo_run):
    trainer, _ = dapo_run
    trainer.model.train()
    config = trainer.rollout.config
    trainer.rollout.config = dataclasses.replace(config, max_tokens=6)
    trainer.dynamic_sample = False
    try:
        out = trainer._generate_and_score_completions(_rows(trainer, ["3", "5"]))
    finally:
        trainer.rollout.config, trainer.dynamic_sample = config, True
    eos = set(trainer.eos_token_ids)
    lengths = (out["completion_ids"] != trainer._tokenizer.pad_token_id).sum(dim=1)
    truncated = [int(ids[n - 1]) not in eos for ids, n in zip(out["completion_ids"], lengths)]
    assert any(truncated) and not all(truncated)
    for cut, mask in zip(truncated, out["completion_mask"]):
        assert (int(mask.sum()) == 0) == cut  # a truncated completion counts nothing; a finished one does


def _fixed_batch(trainer, ratios: torch.Tensor, advantages: list[float]):
    """Two completions of 4 tokens, sampled with log-probabilities that make the given policy ratios."""
    torch.manual_seed(0)
    ids = torch.randint(3, 60, (2, 9))
    prompt, completion = ids[:, :5], ids[:, 5:]
    mask = torch.ones_like(completion)
    trainer.model.eval()
    with torch.no_grad():
        logps, _, _ = trainer._get_per_token_logps_and_entropies(
            trainer.model, ids, torch.ones_like(ids), completion.size(1), batch_size=2
        )
    return {
        "prompt_ids": prompt,
        "prompt_mask": torch.ones_like(prompt),
        "completion_ids": completion,
        "completion_mask": mask,
        "advantages": torch.tensor(advantages),
        "old_per_token_logps": logps - torch.log(ratios),
        "ref_per_token_logps": logps - 0.5,
        "num_items_in_batch": mask.sum(),
    }


def _loss(trainer, inputs, **attributes) -> float:
    saved = {name: getattr(trainer, name) for name in attributes}
    for name, value in attributes.items():
        setattr(trainer, name, value)
    trainer.model.eval()  # no dropout, no accumulation scaling: the loss as the formula says
    try:
        with torch.no_grad():
            return float(trainer._compute_loss(trainer.model, inputs))
    finally:
        for name, value in saved.items():
            setattr(trainer, name, value)


@pytest.mark.slow
def test_epsilon_high_moves_the_upper_clip(dapo_run):
    trainer, _ = dapo_run
    inputs = _fixed_batch(trainer, torch.full((2, 4), 1.25), [1.0, 1.0])
    common = dict(importance_sampling_level="token", loss_type="bnpo", kl_in_reward=True)
    # ratio 1.25 with a positive advantage: clipped at 1.2 by epsilon 0.2, not by epsilon_high 0.28
    assert _loss(trainer, inputs, epsilon_high=0.2, **common) == pytest.approx(-1.2, rel=1e-4)
    assert _loss(trainer, inputs, epsilon_high=0.28, **common) == pytest.approx(-1.25, rel=1e-4)


@pytest.mark.slow
def test_sequence_level_importance_sampling_changes_the_loss(dapo_run):
    trainer, _ = dapo_run
    ratios = torch.tensor([[0.9, 1.1, 1.15, 0.95], [1.0, 1.0, 1.0, 1.0]])
    inputs = _fixed_batch(trainer, ratios, [1.0, -1.0])
    common = dict(loss_type="grpo", kl_in_reward=True, epsilon_high=10.0, epsilon_low=0.99)  # no clipping
    token = _loss(trainer, inputs, importance_sampling_level="token", **common)
    sequence = _loss(trainer, inputs, importance_sampling_level="sequence", **common)
    gspo = math.exp(torch.log(ratios[0]).mean().item())  # the geometric mean ratio of the sequence
    assert token == pytest.approx((-ratios[0].mean().item() + 1.0) / 2, rel=1e-4)
    assert sequence == pytest.approx((-gspo + 1.0) / 2, rel=1e-4)
    assert sequence != pytest.approx(token, rel=1e-4)


@pytest.mark.slow
def test_sapo_gates_with_its_temperatures_and_loss_types_normalise_differently(dapo_run):
    trainer, _ = dapo_run
    inputs = _fixed_batch(trainer, torch.full((2, 4), 1.3), [1.0, -1.0])
    inputs["completion_mask"] = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0]])

    def gate(tau):
        return 4 / tau / (1 + math.exp(-tau * 0.3))

    base = dict(importance_sampling_level="token", kl_in_reward=True)
    sapo = _loss(trainer, inputs, loss_type="sapo", **base)
    assert sapo == pytest.approx((-gate(1.0) + gate(1.05)) / 2, rel=1e-4)  # tau_pos 1, tau_neg 1.05
    # clipped ratio 1.2 for the positive row, 1.3 for the negative one; 4 + 1 tokens
    grpo = _loss(trainer, inputs, loss_type="grpo", epsilon_high=0.2, **base)
    bnpo = _loss(trainer, inputs, loss_type="bnpo", epsilon_high=0.2, **base)
    assert grpo == pytest.approx((-1.2 + 1.3) / 2, rel=1e-4)
    assert bnpo == pytest.approx((4 * -1.2 + 1.3) / 5, rel=1e-4)


@pytest.mark.slow
def test_kl_in_the_reward_leaves_the_loss(dapo_run):
    trainer, _ = dapo_run
    inputs = _fixed_batch(trainer, torch.ones(2, 4), [1.0, -1.0])
    common = dict(importance_sampling_level="token", loss_type="bnpo")
    in_reward = _loss(trainer, inputs, kl_in_reward=True, **common)
    in_loss = _loss(trainer, inputs, kl_in_reward=False, **common)
    kl = math.exp(-0.5) + 0.5 - 1  # trl's k3 estimate with log pi_ref = log pi - 0.5
    assert in_reward == pytest.approx(0.0, abs=1e-6)
    assert in_loss == pytest.approx(0.04 * kl, rel=1e-4)


@pytest.mark.slow
def test_beta_0_full_training_runs_without_a_reference_model(tmp_path, one_torch_thread):
    trainer, logs = _run(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--reward_funcs",
        "parity",
        "--train_type",
        "full",
        "--beta",
        "0",
        "--max_steps",
        "1",
        "--loss_type",
        "dr_grpo",
        "--advantage_estimator",
        "reinforce_plus_plus",
        "--scale_rewards",
        "false",
        "--save_strategy",
        "no",
    )
    try:
        assert trainer.ref_model is None and trainer.beta == 0.0 and not trainer.kl_in_reward
        assert (trainer.loss_type, trainer.scale_rewards) == ("dr_grpo", "none")
        assert len(logs) == 1 and "kl" not in logs[0]
    finally:
        trainer.rollout.close()
