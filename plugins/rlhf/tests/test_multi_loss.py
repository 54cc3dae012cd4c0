"""Lists where later ms-swift takes them: ``--loss_type sigmoid bco_pair sft --loss_weights 0.8 0.2 1.0`` (MPO,
trl's multi-loss DPO).  The combined loss of a real DPO trainer equals the weighted sum of the single losses on
one fixed batch (policy and reference differ, so no term is trivially log 2); the values are checked before
anything loads; other types refuse them.  ``--reward_model A B`` is refused by the parser (one value).
"""

from __future__ import annotations

import math

import pytest

import rlhf_helpers as h
from swiftk.api import UsageError


def rlhf_args(*argv: str):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        return resolve_arguments("rlhf", ["--model", "swiftk/tiny-chat", *argv])


def checked(*argv: str):
    """The dpo arguments after its checks, and its DPOConfig."""
    from trl import DPOConfig

    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk.testing import HostScope
    from swiftk_rlhf.args import dpo_config, prepare_dpo

    args = rlhf_args(*argv, "--output_dir", "/tmp/swiftk-mpo-unit", "--add_version", "false")
    with HostScope(autoload=True):
        prepare_dpo(args)
    return to_training_arguments(args, DPOConfig, has_eval=False, **dpo_config(args))


def test_the_lists_reach_trl_dpo_config():
    config = checked("--loss_type", "sigmoid", "bco_pair", "sft", "--loss_weights", "0.8", "0.2", "1.0")
    assert (config.loss_type, config.loss_weights) == (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0])
    # one loss; no weights means 1.0 each; the page's default rpo_alpha adds sft only without --loss_type
    assert (checked("--loss_type", "ipo").loss_type, checked("--loss_type", "ipo").loss_weights) == (["ipo"], [1.0])
    assert checked("--loss_type", "hinge", "bco_pair").loss_weights == [1.0, 1.0]
    given = checked("--loss_type", "sigmoid", "--rpo_alpha", "0.5")
    assert (given.loss_type, given.loss_weights) == (["sigmoid", "sft"], [1.0, 0.5])
    default = checked()
    assert (default.loss_type, default.loss_weights) == (["sigmoid", "sft"], [1.0, 1.0])
    assert checked("--loss_weights", "0.5", "--rpo_alpha", "0").loss_weights == [0.5]


def test_args_json_records_the_lists():
    args = rlhf_args("--loss_type", "sigmoid", "bco_pair", "--loss_weights", "0.8", "0.2")
    saved = args.to_dict()
    assert (saved["loss_type"], saved["loss_weights"]) == (["sigmoid", "bco_pair"], [0.8, 0.2])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--loss_type", "sigmoid", "cross_entropy"], "--loss_type cross_entropy: not a DPO loss; valid"),
        (["--loss_type", "sigmoid", "sft", "--loss_weights", "1"], "one weight per --loss_type (sigmoid sft), got 1"),
        (["--loss_weights", "1", "2"], "one weight per --loss_type (sigmoid), got 2"),
        (["--loss_type", "sigmoid", "sigmoid"], "a loss is listed twice"),
        (["--loss_type", "sigmoid", "--label_smoothing", "0.1"], "--label_smoothing 0.1: none of --loss_type sigmoid"),
        (["--loss_type", "sigmoid", "sft", "--rpo_alpha", "0.5"], "--rpo_alpha with --loss_type sft"),
    ],
)
def test_bad_lists_are_one_line(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checked(*argv)


@pytest.mark.parametrize(
    "rlhf_type, argv, message",
    [
        ("kto", ["--loss_type", "sigmoid", "bco_pair"], "--loss_type sigmoid bco_pair: --rlhf_type kto takes no"),
        ("cpo", ["--loss_weights", "0.8", "0.2"], "--loss_weights: read by --rlhf_type dpo only, not cpo"),
    ],
)
def test_other_types_refuse_them(rlhf_type, argv, message):
    from swiftk.api import get_host
    from swiftk.api import load_reference
    from swiftk.testing import HostScope

    args = rlhf_args("--rlhf_type", rlhf_type, *argv)
    with HostScope(autoload=True), pytest.raises(UsageError, match=message):
        load_reference(get_host().get("trainers", rlhf_type).prepare_args)(args)


def test_sft_keeps_one_registered_loss_type():
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        assert resolve_arguments("sft", ["--loss_type", "cross_entropy"]).loss_type == "cross_entropy"
        with pytest.raises(UsageError, match="--loss_type takes one value"):
            resolve_arguments("sft", ["--loss_type", "cross_entropy", "loss_scale"])
        with pytest.raises(UsageError, match="--loss_type: 'sigmoid' is not valid"):
            resolve_arguments("sft", ["--loss_type", "sigmoid"])


def test_several_reward_models_parse_as_a_list_only_on_rlhf():
    """Later ms-swift's --reward_model A B is a list (GRPO gives each model a reward; PPO refuses it when it
    prepares); other commands keep one value."""
    assert rlhf_args("--rlhf_type", "ppo", "--reward_model", "rm-a", "rm-b").reward_model == ["rm-a", "rm-b"]
    assert rlhf_args("--rlhf_type", "ppo", "--reward_model", "rm-a").reward_model == "rm-a"
    with pytest.raises(UsageError, match="--seed takes one value, got 2"):
        rlhf_args("--rlhf_type", "ppo", "--seed", "1", "2")


# --- the combined loss of a real trainer ---------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return h.perturbed_copy(tmp_path_factory.mktemp("mpo") / "ref", scale=0.3, seed=1)


def _trainer_loss(tmp_path, reference, *argv: str):
    """The DPO loss the trainer that ``argv`` builds computes on the first 4 training pairs (full training, the
    perturbed model as reference), and the trainer's config."""
    import torch

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.io import release_run_lock
    from swiftk.pipelines.train import build_trainer
    from swiftk.testing import HostScope

    out = tmp_path / "-".join(argv).replace("--", "")
    with HostScope(autoload=True):
        args = resolve_arguments(
            "rlhf",
            [*h.COMMON, "--rlhf_type", "dpo", "--dataset", "swiftk/demo-dpo", "--train_type", "full"]
            + ["--ref_model", str(reference), "--output_dir", str(out), *argv],
        )
        trainer = build_trainer(args)
        try:
            batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
            trainer.model.eval()
            with torch.no_grad():
                loss = float(trainer.compute_loss(trainer.model, batch))
        finally:
            release_run_lock(str(out))
    return loss, trainer.args


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_the_combined_loss_is_the_weighted_sum_of_the_single_losses(tmp_path, reference):
    combined, config = _trainer_loss(
        tmp_path, reference, "--loss_type", "sigmoid", "bco_pair", "sft", "--loss_weights", "0.8", "0.2", "1.0"
    )
    assert (config.loss_type, config.loss_weights) == (["sigmoid", "bco_pair", "sft"], [0.8, 0.2, 1.0])
    single = {
        name: _trainer_loss(tmp_path, reference, "--loss_type", name)[0] for name in ("sigmoid", "bco_pair", "sft")
    }
    # policy and reference differ: no term is its value at equal models (log 2, 2 log 2)
    assert abs(single["sigmoid"] - math.log(2)) > 1e-3 and abs(single["bco_pair"] - 2 * math.log(2)) > 1e-3
    expected = 0.8 * single["sigmoid"] + 0.2 * single["bco_pair"] + 1.0 * single["sft"]
    assert combined == pytest.approx(expected, rel=1e-5), (combined, single)
    assert all(abs(combined - value) > 1e-3 for value in single.values())


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_an_mpo_run_trains(tmp_path):
    out = h.rlhf(
        tmp_path / "mpo",
        "--rlhf_type",
        "dpo",
        "--dataset",
        "swiftk/demo-dpo",
        "--train_type",
        "lora",
        "--loss_type",
        "sigmoid",
        "bco_pair",
        "sft",
        "--loss_weights",
        "0.8",
        "0.2",
        "1.0",
        "--max_steps",
        "4",
        "--save_steps",
        "4",
        "--learning_rate",
        "1e-3",
    )
    h.assert_run_outputs(out, "dpo", "lora")
    logs = h.train_logs(out)
    assert len(logs) == 4 and all(math.isfinite(r["loss"]) for r in logs)
