"""Shared by the embedding plugin's tests: data in ms-swift's form, and swiftk run in this process."""

from __future__ import annotations

import json
from pathlib import Path

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
WORDS = ["apple", "river", "music", "stone", "cloud", "tiger", "paper", "green"]
COMMON = [
    "--model", "swiftk/tiny-chat", "--split_dataset_ratio", "0", "--learning_rate", "1e-3", "--logging_steps", "1",
    "--gradient_checkpointing", "false", "--dataloader_num_workers", "0", "--add_version", "false",
    "--report_to", "none", "--disable_tqdm", "true",
]  # fmt: skip


def swiftk(command: str, *argv: str) -> None:
    """``swiftk COMMAND argv`` in this process (the imports are paid once)."""
    from swiftk.cli.builtin import invoke
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        code, _ = invoke(command, list(argv), launch=False)
    assert code == 0


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def embedding_rows(n: int = 4) -> list[dict]:
    """Anchor, one positive and one hard negative per row (ms-swift's infonce form)."""
    return [
        {
            "messages": user(f"What is a {w}?"),
            "positive_messages": [user(f"A {w} is a {w}.")],
            "negative_messages": [user(f"A {WORDS[(i + 1) % len(WORDS)]} is something else.")],
        }
        for i, w in enumerate(WORDS[:n])
    ]


def reranker_rows(n: int = 4, negatives: int = 3) -> list[dict]:
    """A query, its relevant document and irrelevant ones (ms-swift's reranker form)."""
    doc = lambda w: [{"role": "assistant", "content": f"{w} facts"}]  # noqa: E731
    return [
        {
            "messages": user(f"Tell me about {w}"),
            "positive_messages": [doc(w)],
            "negative_messages": [doc(WORDS[(i + j) % len(WORDS)]) for j in range(1, negatives + 1)],
        }
        for i, w in enumerate(WORDS[:n])
    ]


def losses(run: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run / "logging.jsonl").read_text().splitlines() if '"loss"' in line]
