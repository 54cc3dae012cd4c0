"""The kit's names in real runs of the installed ``swiftk`` command (the kit made visible as an installed
distribution: a ``*.dist-info`` with its ``swiftk`` entry point on ``PYTHONPATH``, as ``pip install``
would leave it): one ``swiftk sft`` on swiftk/tiny-chat with ``--train_type kit_bias --optimizer kit_sgd
--loss_type kit_smooth --dataset kit/arith --metric kit_len_ratio`` (the callback kit_step_counter records
the run), then ``swiftk infer --adapters CHECKPOINT --infer_backend kit_greedy``."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LR = 0.05


def _installed(site: str) -> dict:
    info = os.path.join(site, "swiftk_example_kit-0.1.0.dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: swiftk-example-kit\nVersion: 0.1.0\n")
    with open(os.path.join(info, "entry_points.txt"), "w") as f:
        f.write("[swiftk]\nexample_kit = swiftk_example_kit.plugin\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWIFTK_")}
    env.update(
        PYTHONPATH=os.pathsep.join([site, KIT_ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def swiftk(env: dict, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"swiftk {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kit_run")
    env = _installed(str(tmp / "site"))
    output = tmp / "output"
    # sft defaults to eval_steps = save_steps, so evaluation (and the metric) runs at step 2
    proc = swiftk(
        env, "sft", "--model", "swiftk/tiny-chat", "--dataset", "kit/arith",
        "--train_type", "kit_bias", "--optimizer", "kit_sgd", "--loss_type", "kit_smooth",
        "--metric", "kit_len_ratio", "--learning_rate", str(LR), "--kit_momentum", "0.5",
        "--max_steps", "2", "--save_steps", "2", "--eval_steps", "2", "--logging_steps", "1",
        "--per_device_train_batch_size", "4", "--per_device_eval_batch_size", "4",
        "--split_dataset_ratio", "0.2", "--dataloader_num_workers", "0", "--output_dir", str(output),
    )  # fmt: skip
    [record] = glob.glob(str(output / "**" / "kit_step_counter.json"), recursive=True)
    [checkpoint] = glob.glob(str(output / "**" / "checkpoint-2"), recursive=True)
    return {"env": env, "tmp": tmp, "stdout": proc.stdout + proc.stderr, "record": record, "checkpoint": checkpoint}


def test_the_callback_saw_two_sgd_steps_on_the_kit_schedule(trained):
    with open(trained["record"]) as f:
        record = json.load(f)
    assert record["steps"] == record["global_step"] == 2
    assert record["evaluations"] >= 1
    assert record["optimizer"] == "SGD"  # --optimizer kit_sgd, not the Trainer's AdamW
    # kit_sgd's linear schedule over 2 steps: after step 1 half the rate, after step 2 none
    assert record["learning_rates"] == pytest.approx([LR / 2, 0.0])


def test_the_run_used_the_kit_loss_metric_and_tuner(trained):
    out = trained["stdout"]
    assert "[kit_bias] trainable params:" in out
    assert "eval_len_ratio" in out and "eval_len_close" in out  # kit_len_ratio's keys in the eval log


def test_the_checkpoint_holds_only_the_biases(trained):
    from safetensors import safe_open

    checkpoint = trained["checkpoint"]
    with open(os.path.join(checkpoint, "swiftk_tuner.json")) as f:
        assert json.load(f)["train_type"] == "kit_bias"
    with safe_open(os.path.join(checkpoint, "model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert names and all(name.endswith(".bias") for name in names)


def test_the_checkpoint_answers_through_kit_greedy(trained, tmp_path):
    data = tmp_path / "val.jsonl"
    rows = [{"query": "What is 2 plus 3?", "response": "2 + 3 = 5"}, {"query": "Who are you?", "response": "Tiny Chat"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = tmp_path / "result.jsonl"
    swiftk(
        trained["env"], "infer", "--adapters", trained["checkpoint"], "--infer_backend", "kit_greedy",
        "--val_dataset", str(data), "--max_new_tokens", "16",
        "--result_path", str(result),
    )  # fmt: skip
    answers = [json.loads(line) for line in result.read_text().splitlines()]
    assert len(answers) == 2 and all(a["response"] for a in answers)
