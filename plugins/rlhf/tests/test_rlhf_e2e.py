"""Every --rlhf_type trains the demo model on the shipped preference data, with full and LoRA training:
the preference margin moves the right way (or the reward goes up), checkpoints and args.json are
written, the result loads in `swiftk infer`; resume; the real command line once.

Runs in this process (the imports are paid once) with one torch thread: the suite shares two cores.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import rlhf_helpers as h

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

PAIRWISE_LR = {"lora": "1e-3", "full": "2e-4"}


@pytest.fixture(scope="module")
def base_margin():
    return h.pair_margin(h.load_policy())


def _infers(checkpoint: Path, train_type: str) -> None:
    flags = ["--adapters", str(checkpoint)] if train_type == "lora" else ["--model", str(checkpoint)]
    rows = h.infer(*flags)
    assert len(rows) == 2 and all(isinstance(r["response"], str) for r in rows)


@pytest.mark.parametrize("train_type", ["lora", "full"])
@pytest.mark.parametrize("rlhf_type", ["dpo", "cpo", "simpo", "orpo", "kto"])
def test_preference_types_learn_the_chosen_answers(rlhf_type, train_type, tmp_path, base_margin):
    extra = ["--ref_model", "swiftk/tiny-chat"] if (rlhf_type, train_type) == ("dpo", "full") else []
    out = h.rlhf(
        tmp_path / "run",
        "--rlhf_type",
        rlhf_type,
        "--dataset",
        "swiftk/demo-dpo",
        "--train_type",
        train_type,
        "--max_steps",
        "10",
        "--save_steps",
        "5",
        "--learning_rate",
        PAIRWISE_LR[train_type],
        *extra,
    )
    ckpt = h.assert_run_outputs(out, rlhf_type, train_type)
    assert (out / "checkpoint-5").is_dir() and ckpt.name == "checkpoint-10"
    margin = h.pair_margin(h.load_policy(ckpt))
    # log p(chosen) - log p(rejected) per token, over the training pairs: up by a clear step
    assert margin > base_margin + 0.1, (base_margin, margin)
    _infers(ckpt, train_type)


def test_kto_reads_label_rows(tmp_path, base_margin):
    out = h.rlhf(
        tmp_path / "kto",
        "--rlhf_type",
        "kto",
        "--dataset",
        "swiftk/demo-kto",
        "--train_type",
        "lora",
        "--max_steps",
        "10",
        "--learning_rate",
        "1e-3",
        "--desirable_weight",
        "1.0",
        "--undesirable_weight",
        "1.0",
    )
    ckpt = h.assert_run_outputs(out, "kto", "lora")
    logs = h.train_logs(out)
    assert {"kl", "rewards/chosen", "rewards/rejected"} <= set(logs[-1])
    assert h.pair_margin(h.load_policy(ckpt)) > base_margin + 0.1


def _reward_model(checkpoint: Path, train_type: str):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope
    from swiftk_rlhf.reward_model import load_reward_model

    flags = (
        ["--reward_model", str(checkpoint)]
        if train_type == "full"
        else ["--reward_model", "swiftk/tiny-chat", "--reward_adapters", str(checkpoint)]
    )
    with HostScope(autoload=True):
        return load_reward_model(
            resolve_arguments("rlhf", ["--model", "swiftk/tiny-chat", "--rlhf_type", "ppo", *flags])
        )


@pytest.mark.parametrize("train_type", ["lora", "full"])
def test_reward_model_scores_chosen_above_rejected(train_type, tmp_path):
    from swiftk_rlhf.reward_model import pair_accuracy

    out = h.rlhf(
        tmp_path / "rm",
        "--rlhf_type",
        "rm",
        "--dataset",
        "swiftk/demo-dpo",
        "--train_type",
        train_type,
        "--max_steps",
        "15",
        "--learning_rate",
        "1e-3",
    )
    ckpt = h.assert_run_outputs(out, "rm", train_type)
    saved = json.loads((ckpt / "args.json").read_text())
    assert (saved["task_type"], saved["num_labels"]) == ("seq_cls", 1)
    logs = h.train_logs(out)
    assert logs[-1]["loss"] < logs[0]["loss"]
    template, _ = h.base_parts()
    accuracy = pair_accuracy(_reward_model(ckpt, train_type), template, h.preference_rows())
    assert accuracy >= 0.7, accuracy  # chosen above rejected on most training pairs
    # swiftk infer serves it: each conversation's reward
    flags = ["--adapters", str(ckpt)] if train_type == "lora" else ["--model", str(ckpt)]
    rows = h.infer(*flags, "--infer_backend", "reward")
    assert len(rows) == 2 and all(isinstance(float(r["response"]), float) for r in rows)


# --- ppo ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_answer_rm(tmp_path_factory):
    """A full reward model that prefers longer answers (a signal PPO can follow in a few steps)."""
    folder = tmp_path_factory.mktemp("rm-long")
    data = folder / "long.jsonl"
    rows = []
    for row in h.preference_rows():
        answer = row["messages"][-1]["content"]
        rows.append(
            {
                "messages": [row["messages"][0], {"role": "assistant", "content": " ".join([answer] * 3)}],
                "rejected_response": answer.split()[0],
            }
        )
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = h.rlhf(
        folder / "rm",
        "--rlhf_type",
        "rm",
        "--dataset",
        str(data),
        "--train_type",
        "full",
        "--max_steps",
        "20",
        "--learning_rate",
        "1e-3",
    )
    return h.last_checkpoint(out)


def sampled_reward(policy, reward_model, samples: int = 4) -> float:
    """Mean reward of sampled answers (temperature 0.9, 16 tokens) to every demo prompt, seeded."""
    import torch

    from swiftk_rlhf.ppo import cut_after_stop, reward_scores

    template, _ = h.base_parts()
    tok = template.tokenizer
    torch.manual_seed(0)
    scores = []
    for row in h.preference_rows():
        prompt = torch.tensor([template.encode(row, add_generation_prompt=True)["input_ids"]])
        with torch.no_grad():
            out = policy.generate(
                input_ids=prompt,
                do_sample=True,
                temperature=0.9,
                top_k=0,
                top_p=1.0,
                max_new_tokens=16,
                num_return_sequences=samples,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
            response = cut_after_stop(out[:, prompt.shape[1] :], tok.eos_token_id, tok.pad_token_id)
            score = reward_scores(reward_model, prompt.repeat(samples, 1), response, tok.pad_token_id)
        scores += score.tolist()
    return sum(scores) / len(scores)


PPO = [
    "--rlhf_type",
    "ppo",
    "--dataset",
    "swiftk/demo-dpo",
    "--response_length",
    "16",
    "--num_ppo_epochs",
    "2",
    "--local_rollout_forward_batch_size",
    "8",
    "--num_sample_generations",
    "0",
]


def test_ppo_lora_raises_the_reward(tmp_path, long_answer_rm):
    reward_model = _reward_model(long_answer_rm, "full")
    before = sampled_reward(h.load_policy(), reward_model)
    out = h.rlhf(
        tmp_path / "ppo",
        *PPO,
        "--reward_model",
        str(long_answer_rm),
        "--train_type",
        "lora",
        "--max_steps",
        "12",
        "--save_steps",
        "6",
        "--learning_rate",
        "3e-3",
    )
    ckpt = h.assert_run_outputs(out, "ppo", "lora")
    assert (ckpt / "value_model" / "model.safetensors").is_file()
    logs = h.train_logs(out)
    assert len(logs) == 12 and {"reward", "objective/kl", "loss/value_avg", "policy/clipfrac_avg"} <= set(logs[0])
    after = sampled_reward(h.load_policy(ckpt), reward_model)
    assert after > before + 0.1, (before, after)
    _infers(ckpt, "lora")


def test_ppo_full_with_lora_reward_adapters_and_resume(tmp_path):
    # a LoRA reward model: the base model plus --reward_adapters
    rm = h.rlhf(
        tmp_path / "rm",
        "--rlhf_type",
        "rm",
        "--dataset",
        "swiftk/demo-dpo",
        "--train_type",
        "lora",
        "--max_steps",
        "3",
        "--learning_rate",
        "1e-3",
    )
    flags = [
        *PPO,
        "--reward_model",
        "swiftk/tiny-chat",
        "--reward_adapters",
        str(h.last_checkpoint(rm)),
        "--train_type",
        "full",
        "--learning_rate",
        "1e-5",
        "--max_steps",
        "4",
        "--save_steps",
        "2",
        "--kl_coef",
        "0.1",
        "--whiten_rewards",
        "false",
        "--missing_eos_penalty",
        "1.0",
    ]
    straight = h.rlhf(tmp_path / "straight", *flags)
    ckpt = h.assert_run_outputs(straight, "ppo", "full")
    resumed = h.rlhf(tmp_path / "resumed", *flags, "--resume_from_checkpoint", str(straight / "checkpoint-2"))
    a = {r["global_step"]: r["reward"] for r in h.train_logs(straight)}
    b = {r["global_step"]: r["reward"] for r in h.train_logs(resumed)}
    assert sorted(b) == [3, 4]  # it continued after step 2 ...
    for step in (3, 4):  # ... with the same rollouts
        assert b[step] == pytest.approx(a[step], abs=1e-5), (a, b)
    _infers(ckpt, "full")


# --- resume and the real command line --------------------------------------------------------------


def test_dpo_resume_gives_the_same_losses_step_by_step(tmp_path):
    flags = [
        "--rlhf_type",
        "dpo",
        "--dataset",
        "swiftk/demo-dpo",
        "--train_type",
        "lora",
        "--max_steps",
        "6",
        "--save_steps",
        "3",
        "--learning_rate",
        "1e-3",
    ]
    straight = h.rlhf(tmp_path / "straight", *flags)
    resumed = h.rlhf(tmp_path / "resumed", *flags, "--resume_from_checkpoint", str(straight / "checkpoint-3"))
    a = {r["global_step"]: r["loss"] for r in h.train_logs(straight)}
    b = {r["global_step"]: r["loss"] for r in h.train_logs(resumed)}
    assert sorted(b) == [4, 5, 6]
    for step in (4, 5, 6):
        assert b[step] == pytest.approx(a[step], abs=1e-5), (step, a, b)


def test_swiftk_rlhf_and_swiftk_infer_on_the_command_line(tmp_path):
    out = tmp_path / "dpo"
    common = list(h.COMMON)
    for flag in ("--disable_tqdm", "--split_dataset_ratio"):
        del common[common.index(flag) : common.index(flag) + 2]
    h.cli(
        "rlhf",
        *common,
        "--rlhf_type",
        "dpo",
        "--dataset",
        "swiftk/demo-dpo",
        "--split_dataset_ratio",
        "0.2",
        "--train_type",
        "lora",
        "--max_steps",
        "4",
        "--save_steps",
        "2",
        "--eval_steps",
        "2",
        "--learning_rate",
        "1e-3",
        "--create_checkpoint_symlink",
        "true",
        "--output_dir",
        str(out),
    )
    ckpt = h.assert_run_outputs(out, "dpo", "lora")
    assert os.path.realpath(out / "last") == str(ckpt.resolve()) and (out / "checkpoint-2").is_dir()
    assert {"loss.png"} <= {p.name for p in (out / "images").iterdir()}
    assert {"rewards/margins", "rewards/accuracies", "logps/chosen"} <= set(h.train_logs(out)[-1])
    evals = [r for r in h.logs(out) if "eval_loss" in r]  # the held-out pairs: trl's loss and reward metrics
    assert len(evals) == 2 and "eval_rewards/margins" in evals[-1]
    result = tmp_path / "infer.jsonl"
    h.cli(
        "infer",
        "--adapters",
        str(ckpt),
        "--val_dataset",
        "swiftk/demo-dpo#2",
        "--max_new_tokens",
        "6",
        "--temperature",
        "0",
        "--result_path",
        str(result),
    )
    assert len(result.read_text().splitlines()) == 2
