"""Helpers shared by the grpo plugin tests (imported by name: plugin test folders have no conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[3]
CONTRIB = ROOT / "contrib"
SUMS = ROOT / "plugins" / "datasets" / "swiftk_datasets" / "data" / "demo_grpo_sums.jsonl"
TINY_CHAT = ROOT / "plugins" / "demo" / "swiftk_demo" / "tiny-chat"
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRL_EXPERIMENTAL_SILENCE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
os.environ.update(OFFLINE)

#: flags every GRPO run of the tests shares: the demo model, groups of 4, short completions
COMMON = [
    "--rlhf_type",
    "grpo",
    "--model",
    "swiftk/tiny-chat",
    "--split_dataset_ratio",
    "0",
    "--num_generations",
    "4",
    "--per_device_train_batch_size",
    "8",
    "--max_completion_length",
    "16",
    "--dataloader_num_workers",
    "0",
    "--add_version",
    "false",
    "--report_to",
    "none",
    "--disable_tqdm",
    "true",
    "--logging_steps",
    "1",
]


def grpo(output_dir: Any, *argv: str) -> Path:
    """``swiftk rlhf COMMON argv --output_dir output_dir`` in this process (the imports are paid once)."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        code, _ = invoke("rlhf", [*COMMON, *argv, "--output_dir", str(output_dir)], launch=False)
    assert code == 0
    return Path(output_dir)


def cli(*args: str, env: Optional[dict] = None, python: str = sys.executable, timeout: int = 900):
    """``python -m swiftk args`` in a subprocess (the real command line and its exit code)."""
    full_env = {**os.environ, **OFFLINE, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [python, "-m", "swiftk", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def train_logs(output_dir: Any) -> list[dict]:
    rows = [json.loads(line) for line in Path(output_dir, "logging.jsonl").read_text().splitlines()]
    return [r for r in rows if "reward" in r and "train_runtime" not in r]


def last_checkpoint(output_dir: Any) -> Path:
    return Path(json.loads(Path(output_dir, "run_summary.json").read_text())["last_model_checkpoint"])
