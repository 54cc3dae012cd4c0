"""``--reward_funcs`` and ``--reward_model`` as the reward callables trl's GRPOTrainer calls.

A registered reward (built in, from a plugin distribution, an ``--external_plugins`` file, or an
ms-swift file's ``orms['name'] = MyORM``) is built and called by the kernel's convention
(:mod:`swiftk.rewards`: ``reward(completions, **dataset_columns)``, checked, a :class:`RewardError`
naming it when it misbehaves); :class:`CheckedReward` adapts trl's call to that.  ``--reward_model``
is appended last, as in ms-swift.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from swiftk.api import UsageError, RewardError, build_reward, call_reward

__all__ = ["CheckedReward", "RewardError", "build_rewards", "completion_text"]

#: what trl passes besides the dataset's columns, which a reward function never sees
_TRL_ONLY = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments")


def completion_text(completion: Any) -> str:
    """trl's completion (text, or a conversation ``[{"role": "assistant", "content": ...}]``) as text."""
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    return str(completion)


class CheckedReward:
    """One registered reward in trl's calling convention, called by the kernel's (:mod:`swiftk.rewards`)."""

    def __init__(self, name: str, fn: Callable[..., Any], plugin: Optional[str] = None):
        self.__name__ = name  # trl logs rewards/<name>/mean
        self.name = name
        self.fn = fn
        self.plugin = plugin

    def __call__(self, prompts: list, completions: list, completion_ids: list, **kwargs: Any) -> list[float]:
        columns = {k: v for k, v in kwargs.items() if k not in _TRL_ONLY}
        columns.update(completion_token_ids=completion_ids, response_token_ids=completion_ids, prompts=prompts)
        return call_reward(
            self.fn, [completion_text(c) for c in completions], columns, name=self.name, plugin=self.plugin
        )


def build_rewards(args: Any, tokenizer: Any) -> list[CheckedReward]:
    """``--reward_funcs`` in order, then each ``--reward_model`` (``reward_model``, or ``reward_model_0``, ``_1``, ...
    for several); at least one of them is required."""
    from swiftk.api import get_host

    host = get_host()
    names = list(args.get("reward_funcs") or [])
    if "reward_model" in names:
        raise UsageError(
            "--reward_funcs reward_model: give the model with --reward_model PATH instead (its reward "
            "comes after the --reward_funcs, as --reward_weights counts them)"
        )
    rewards = []
    for name in names:
        entry = host.registry("rewards").entry(name) if name in host.registry("rewards") else None
        value = host.get("rewards", name)  # a missing name: the registry's error with suggestions
        rewards.append(CheckedReward(name, build_reward(value, args, tokenizer), entry.plugin if entry else None))
    if args.get("reward_model"):  # each reward model's reward, registered by swift-plugin-rlhf
        from swiftk_rlhf.reward_model import each_reward_model

        value = host.get("rewards", "reward_model")  # missing: the registry's error naming the plugin
        entry = host.registry("rewards").entry("reward_model")
        models = each_reward_model(args)
        for i, model_args in enumerate(models):
            name = "reward_model" if len(models) == 1 else f"reward_model_{i}"
            rewards.append(CheckedReward(name, build_reward(value, model_args, tokenizer), entry.plugin))
    if not rewards:
        raise UsageError(
            "--rlhf_type grpo needs a reward: --reward_funcs (accuracy, format, cosine, repetition, or "
            "one a plugin registers) and/or --reward_model"
        )
    return rewards
