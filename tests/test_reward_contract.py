"""The reward contract suite catches rewards that break the convention (and passes good ones)."""

from __future__ import annotations

import subprocess
import sys

from kernel_support import swiftk_env

SUITE = '''
import random

import swiftk
from swiftk.testing.rewards import RewardContract


def good(completions, **columns):
    return [float(len(c)) for c in completions]


def one_short(completions, **columns):
    return [1.0] * (len(completions) - 1)


def shuffled(completions, **columns):
    values = [float(len(c)) for c in completions]
    return sorted(values)


def not_finite(completions, **columns):
    return [float("inf")] * len(completions)


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self, completions, **columns):
        self.calls += 1
        return [float(self.calls)] * len(completions)


class TestGood(RewardContract):
    reward = good
    completions, columns = ("a", "bbb", "cc"), {}
    expected = (1.0, 3.0, 2.0)


class TestOneShort(RewardContract):
    reward = one_short
    completions, columns = ("a", "bbb", "cc"), {}


class TestShuffled(RewardContract):
    reward = shuffled
    completions, columns = ("a", "bbb", "cc"), {}


class TestNotFinite(RewardContract):
    reward = not_finite
    completions, columns = ("a", "bbb"), {}


class TestStateful(RewardContract):
    reward = Counter
    completions, columns = ("a", "bbb"), {}


class TestUnregistered(RewardContract):
    reward = "no_such_reward_anywhere"
    completions, columns = ("a", "bbb"), {}
'''


def test_the_suite_fails_each_broken_reward_on_the_right_check(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        env=swiftk_env(),
        cwd=tmp_path,
        timeout=300,
    )
    failed = {
        line.split(" ")[1].split("::", 1)[1]
        for line in proc.stdout.splitlines()
        if line.startswith(("FAILED", "ERROR"))
    }
    assert failed == {
        "TestOneShort::test_one_finite_float_per_completion",
        "TestOneShort::test_values_follow_the_completions",
        "TestShuffled::test_values_follow_the_completions",
        "TestNotFinite::test_one_finite_float_per_completion",
        "TestNotFinite::test_values_follow_the_completions",
        "TestStateful::test_values_follow_the_completions",
        "TestUnregistered::test_the_name_is_registered",
        "TestUnregistered::test_one_finite_float_per_completion",
        "TestUnregistered::test_values_follow_the_completions",
        "TestUnregistered::test_expected_values",
    }, proc.stdout[-4000:]
    assert "5 passed" in proc.stdout  # TestGood (3 checks), and the count check of TestShuffled and TestStateful
