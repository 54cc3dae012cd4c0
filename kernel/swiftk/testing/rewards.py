"""The reward contract suite: the tests every ``--reward_funcs`` name (ours or a third party's) should pass.

Subclass :class:`RewardContract` in a test module, name the reward and give a few completions with
the dataset columns it reads; pytest collects the inherited tests::

    from swiftk.testing.rewards import RewardContract

    class TestLengthPenalty(RewardContract):
        reward = "length_penalty"                  # a registered name
        plugins = ("my_rewards/__init__.py",)      # only if not installed: files or modules to register
        completions = ("short", "x" * 64)
        columns = {"solution": ("a", "b")}         # the dataset columns it reads, one value per completion
        expected = (0.08, 1.0)                     # optional: the values it must give

What the suite checks, with no model and no torch (the way GRPO builds and calls rewards,
:mod:`swiftk.rewards`):

1. the name is registered, by the plugin under test;
2. a class is built once from the run's arguments (``arguments``: command-line flags of ``swiftk
   rlhf --rlhf_type grpo``), and the reward returns one finite float per completion, also for a
   single completion;
3. the values follow the completions: the reversed batch gives the reversed values, and the same
   batch gives the same values again;
4. ``expected``, when given.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pytest

__all__ = ["RewardContract"]


class RewardContract:
    """Inherit, set ``reward`` (and ``completions``/``columns``); see the module docstring."""

    reward: Any = None
    plugins: Sequence[str] = ()
    completions: Sequence[str] = ("3 + 4 = 7.", "I am not sure.", "<think>4 and 3</think><answer>7</answer>")
    columns: Mapping[str, Sequence[Any]] = {"solution": ("7", "7", "7")}
    expected: Optional[Sequence[float]] = None
    arguments: Sequence[str] = ()

    @pytest.fixture
    def reward_host(self) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(self.plugins) as host:
            yield host

    @pytest.fixture
    def reward_fn(self, reward_host: Any) -> Any:
        from swiftk.cli.builtin import resolve_arguments
        from swiftk.rewards import build_reward

        args = resolve_arguments("rlhf", ["--rlhf_type", "grpo", *self.arguments])
        reward = self.raw_reward()
        value = reward_host.get("rewards", reward) if isinstance(reward, str) else reward
        return build_reward(value, args, tokenizer=None)

    def raw_reward(self) -> Any:
        """``reward`` as set on the class (a function set there is not bound to the test instance)."""
        import inspect

        raw = inspect.getattr_static(self, "reward")
        return raw.__func__ if isinstance(raw, staticmethod) else raw

    def score(self, fn: Any, order: Optional[Sequence[int]] = None) -> list[float]:
        from swiftk.rewards import call_reward

        order = list(range(len(self.completions))) if order is None else list(order)
        completions = [self.completions[i] for i in order]
        columns = {key: [values[i] for i in order] for key, values in self.columns.items()}
        columns.setdefault("completion_token_ids", [list(range(len(c.split()) + 1)) for c in completions])
        columns.setdefault("prompts", [[{"role": "user", "content": "question"}] for _ in completions])
        reward = self.raw_reward()
        return call_reward(fn, completions, columns, name=reward if isinstance(reward, str) else reward.__name__)

    def test_the_name_is_registered(self, reward_host: Any) -> None:
        if not isinstance(self.reward, str):
            pytest.skip("the reward is given as an object")
        assert self.reward in reward_host.registry("rewards"), f"'{self.reward}' is not a registered reward"

    def test_one_finite_float_per_completion(self, reward_fn: Any) -> None:
        assert len(self.completions) >= 2, "give at least two completions"
        assert all(len(v) == len(self.completions) for v in self.columns.values()), "one column value per completion"
        assert len(self.score(reward_fn)) == len(self.completions)
        assert len(self.score(reward_fn, order=[0])) == 1

    def test_values_follow_the_completions(self, reward_fn: Any) -> None:
        forward = self.score(reward_fn)
        backward = self.score(reward_fn, order=range(len(self.completions) - 1, -1, -1))
        assert backward == pytest.approx(forward[::-1])
        assert self.score(reward_fn) == pytest.approx(forward)

    def test_expected_values(self, reward_fn: Any) -> None:
        if self.expected is None:
            pytest.skip("no expected values given")
        assert self.score(reward_fn) == pytest.approx(list(self.expected))
