"""`--save_total_limit`: N keeps the N newest checkpoints; 0 or less keeps them all (transformers' and
so ms-swift's meaning), where swiftk used to refuse it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft#16",
    "--split_dataset_ratio",
    "0",
    "--train_type",
    "lora",
    "--per_device_train_batch_size",
    "4",
    "--max_length",
    "64",
    "--gradient_checkpointing",
    "false",
    "--dataloader_num_workers",
    "0",
    "--add_version",
    "false",
    "--report_to",
    "none",
    "--max_steps",
    "3",
    "--save_steps",
    "1",
    "--eval_strategy",
    "no",
]


def checkpoints_kept(output_dir, limit: str) -> list[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", "sft", *COMMON, "--save_total_limit", limit, "--output_dir", str(output_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sorted(p.name for p in output_dir.glob("checkpoint-*"))


@pytest.mark.slow
@pytest.mark.parametrize(
    "limit, kept",
    [
        ("0", ["checkpoint-1", "checkpoint-2", "checkpoint-3"]),
        ("-1", ["checkpoint-1", "checkpoint-2", "checkpoint-3"]),
        ("1", ["checkpoint-3"]),
    ],
)
def test_save_total_limit_zero_or_less_keeps_every_checkpoint(tmp_path, limit, kept):
    assert checkpoints_kept(tmp_path / "run", limit) == kept
