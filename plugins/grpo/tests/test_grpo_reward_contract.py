"""The reward contract suite (swiftk.testing.rewards) on every built-in reward and on the contrib examples:
a plugin distribution, a swiftk plugin file and an ms-swift file."""

from __future__ import annotations

import grpo_helpers as h
from swiftk.testing.rewards import RewardContract

ANSWERS = ("3 + 4 = 7.", "3 + 4 = 8.", "<think>3 and 4</think>\n<answer>7</answer>", "7 7 7 7 7 7")
SOLUTIONS = {"solution": ("7", "7", "7", "7")}


class TestAccuracy(RewardContract):
    reward = "accuracy"
    completions, columns = ANSWERS, SOLUTIONS
    expected = (1.0, 0.0, 1.0, 1.0)


class TestFormat(RewardContract):
    reward = "format"
    completions, columns = ANSWERS, SOLUTIONS
    expected = (0.0, 0.0, 1.0, 0.0)


class TestCosine(RewardContract):
    reward = "cosine"
    arguments = ("--cosine_max_len", "4")
    completions, columns = ANSWERS, SOLUTIONS
    # token counts the suite passes: words + 1 (5, 5, 4, 7), all at or past cosine_max_len
    expected = (0.5, -0.5, 0.5, 0.5)


class TestRepetition(RewardContract):
    reward = "repetition"
    arguments = ("--repetition_n_grams", "2")
    completions, columns = ANSWERS, SOLUTIONS
    expected = (0.0, 0.0, 0.0, -0.8)  # "7 7" five times: 4 of 5 bigrams repeat one


class TestContribPackage(RewardContract):
    reward = "length_penalty"
    plugins = (str(h.CONTRIB / "swiftk-example-reward" / "swiftk_example_reward" / "__init__.py"),)
    completions, columns = ("x" * 64, "x" * 32, ""), {}
    expected = (1.0, 0.5, 0.0)


class TestContribPluginFile(RewardContract):
    reward = "has_answer_tag"
    plugins = (str(h.CONTRIB / "external_reward_plugin.py"),)
    completions, columns = ANSWERS, SOLUTIONS
    expected = (0.0, 0.0, 1.0, 0.0)


class TestContribMsSwiftFile(RewardContract):
    reward = "external_math_format"
    plugins = (str(h.CONTRIB / "ms_swift_reward_plugin.py"),)
    completions, columns = ("so \\boxed{7}", "7", "\\boxed{7} and more"), {}
    expected = (1.0, 0.0, 0.0)
