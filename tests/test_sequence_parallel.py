"""`--sequence_parallel_size` above 1: swiftk has no sequence parallelism, so every command refuses it
instead of silently running without it."""

from __future__ import annotations

import json

import pytest

from kernel_support import one_line_error


@pytest.mark.parametrize("command", ["sft", "pt", "rlhf", "infer"])
def test_sequence_parallelism_is_refused(swiftk, command):
    result = swiftk(
        command,
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft",
        "--sequence_parallel_size",
        "2",
        "--print_args",
    )
    assert result.returncode == 2
    error = one_line_error(result)
    assert "--sequence_parallel_size 2: swiftk has no sequence parallelism" in error
    assert "--max_length" in error and "--packing" in error and "--deepspeed" in error


def test_size_one_is_accepted(swiftk):
    result = swiftk("sft", "--model", "swiftk/tiny-chat", "--sequence_parallel_size", "1", "--print_args")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sequence_parallel_size"] == 1
