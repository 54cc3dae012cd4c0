"""NPROC_PER_NODE starts the command under PyTorch's own torchrun, each rank in one output folder."""

from __future__ import annotations

import json

import pytest

from kernel_support import TEST_PLUGINS, run_swiftk

pytest.importorskip("torch")


@pytest.mark.slow
def test_nproc_per_node_runs_workers_under_torchrun(bare_swiftk, tmp_path):
    out = tmp_path / "out"
    result = bare_swiftk(
        "sft",
        "--model",
        "tiny",
        "--output_dir",
        str(out),
        "--custom_register_path",
        str(TEST_PLUGINS / "pipeline_commands.py"),
        "--hub_token",
        "hf_launch_secret",
        env={"NPROC_PER_NODE": "2", "MASTER_PORT": "29731"},
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert "torch.distributed.run --nproc_per_node 2 --master_port 29731 -m swiftk sft" in result.stderr
    assert "--hub_token ***" in result.stderr and "hf_launch_secret" not in result.stderr + result.stdout
    runs = list(out.glob("v0-*"))
    assert len(runs) == 1, list(out.iterdir())  # the parent resolved one versioned folder for all ranks
    ranks = sorted(json.loads(p.read_text())["rank"] for p in runs[0].glob("rank*.json"))
    assert ranks == ["0", "1"]
    assert json.loads((runs[0] / "rank1.json").read_text())["world_size"] == "2"
    assert (runs[0] / "args.json").is_file()


@pytest.mark.slow
def test_sft_under_torchrun_on_cpu_is_data_parallel(tmp_path):
    """Two ranks train one model (gloo DDP): the data is shared out (one epoch of the 35 demo rows at 4 rows per
    rank is 5 steps, not 9) and gradients are averaged, so both ranks end with the same weights."""
    out = tmp_path / "out"
    result = run_swiftk(
        "sft",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft",
        "--num_train_epochs",
        "1",
        "--per_device_train_batch_size",
        "4",
        "--split_dataset_ratio",
        "0",
        "--add_version",
        "false",
        "--report_to",
        "none",
        "--output_dir",
        str(out),
        "--learning_rate",
        "1e-2",
        "--external_plugins",
        str(TEST_PLUGINS / "rank_report.py"),
        env={"NPROC_PER_NODE": "2", "MASTER_PORT": "29733", "OMP_NUM_THREADS": "1"},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "run_summary.json").read_text())["global_step"] == 5
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["wrapped"] == "DistributedDataParallel" for r in ranks), ranks
    assert ranks[0]["trainable_sum"] == pytest.approx(ranks[1]["trainable_sum"], rel=1e-6), ranks


def test_bad_launcher_variable_is_a_usage_error(bare_swiftk, tmp_path):
    result = bare_swiftk(
        "sft",
        "--model",
        "tiny",
        "--output_dir",
        str(tmp_path / "o"),
        "--custom_register_path",
        str(TEST_PLUGINS / "pipeline_commands.py"),
        env={"NPROC_PER_NODE": "two"},
    )
    assert result.returncode == 2
    assert "NPROC_PER_NODE must be an integer" in result.stderr


@pytest.mark.slow
def test_a_loss_type_under_torchrun_trains_as_the_models_own_loss(tmp_path):
    """With --average_tokens_across_devices true, --loss_type divides by the token count of every rank's batch,
    as transformers' loss does; DDP then averages the gradients, so the loss is scaled by the ranks, as
    transformers scales its own. Plain SGD without clipping, so that a gradient off by the number of ranks
    shows in the weights (Adam would hide it)."""
    sums = {}
    for loss_type, port in ((None, "29735"), ("cross_entropy", "29737")):
        out = tmp_path / (loss_type or "model_loss")
        extra = ["--loss_type", loss_type] if loss_type else []
        result = run_swiftk(
            "sft",
            "--model",
            "swiftk/tiny-chat",
            "--dataset",
            "swiftk/demo-sft",
            "--num_train_epochs",
            "1",
            "--per_device_train_batch_size",
            "4",
            "--split_dataset_ratio",
            "0",
            "--add_version",
            "false",
            "--report_to",
            "none",
            "--output_dir",
            str(out),
            "--optim",
            "sgd",
            "--learning_rate",
            "0.5",
            "--max_grad_norm",
            "0",
            "--lora_dropout",
            "0",
            "--average_tokens_across_devices",
            "true",
            *extra,
            "--external_plugins",
            str(TEST_PLUGINS / "rank_report.py"),
            env={"NPROC_PER_NODE": "2", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"},
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        sums[loss_type] = json.loads((out / "rank0.json").read_text())["trainable_sum"]
    assert sums["cross_entropy"] == pytest.approx(sums[None], rel=1e-5), sums


def test_the_printed_torchrun_line_masks_secret_values():
    from swiftk.cli.launch import masked

    line = ["python", "-m", "swiftk", "sft", "--hub_token", "hf_x", "--api_key=sk-y", "--model", "hf_x2", "--hub_token"]
    assert masked(line, {"hub_token", "api_key"}) == [
        "python", "-m", "swiftk", "sft", "--hub_token", "***", "--api_key=***", "--model", "hf_x2", "--hub_token",
    ]  # fmt: skip
