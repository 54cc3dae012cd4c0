"""Helpers and fixtures shared by the datasets plugin tests.

Test modules import them by name (pytest puts this folder on sys.path).  There is deliberately no
conftest.py here: the kernel's tests import their own ``conftest`` module by name, and a second
conftest.py in a plugin's tests would shadow it when everything runs in one session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parent / "data"
ORIGIN = "__origin__"


def args_for(*argv: str, command: str = "sft") -> Any:
    from swiftk.cli.builtin import resolve_arguments

    argv = list(argv)
    if "--split_dataset_ratio" not in argv:
        argv += ["--split_dataset_ratio", "0"]
    return resolve_arguments(command, argv)


def load(*argv: str, command: str = "sft"):
    """(train, val) for a command line, with split_dataset_ratio 0 unless given."""
    from swiftk.pipelines.data import load_datasets

    return load_datasets(args_for(*argv, command=command))


def rows(dataset) -> list[dict]:
    """The rows without their origin column."""
    return [{k: v for k, v in row.items() if k != ORIGIN} for row in dataset]


def messages(dataset) -> list[list[tuple[str, str]]]:
    return [[(m["role"], m["content"]) for m in row["messages"]] for row in dataset]


def make_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    lines = [
        "What is the capital of France? The capital of France is Paris.",
        "你是谁？我是一个人工智能助手。",
        "user assistant system tool",
        "0123456789 + - * / =",
    ] * 20
    tok.train_from_iterator(
        lines,
        trainers.BpeTrainer(
            vocab_size=400, special_tokens=["<|end|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|end|>")


class TooLong(ValueError):
    """What a template raises for a row above max_length."""

    kind = "too long"


class ChatEncoder:
    """A minimal template: role-tagged text, tokenized, rejected above max_length."""

    def __init__(self, tokenizer, max_length: int = 10_000):
        self.tokenizer = tokenizer
        self.max_length = max_length

    def __call__(self, row: dict) -> dict:
        text = "".join(f"<{m['role']}>{m['content']}" for m in row["messages"]) + self.tokenizer.eos_token
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > self.max_length:
            raise TooLong(f"{len(ids)} tokens > max_length {self.max_length}")
        return {"input_ids": ids, "labels": list(ids)}


# --- fixtures (imported by every test module) ---------------------------------------------


@pytest.fixture(autouse=True)
def offline_fresh_host(monkeypatch, swiftk_host, tmp_path):
    """Every test: no hub, a fresh host with the installed plugins, a private datasets cache."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    yield swiftk_host


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A byte-level BPE trained here on a few lines: no download."""
    return make_tokenizer()
