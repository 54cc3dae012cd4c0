"""``--reward_funcs`` and ``--reward_model`` as the reward callables trl's GRPOTrainer calls.

A registered reward (built in, from a plugin distribution, an ``--external_plugins`` file, or an
ms-swift file's ``orms['name'] = MyORM``) is called as ``reward(completions, **dataset_columns)``;
:class:`CheckedReward` adapts trl's call to that, and stops the run with a :class:`RewardError`
naming the reward and its plugin when it raises, returns the wrong number of values, or a value
that is not a finite number.  ``--reward_model`` is appended last, as in ms-swift.
"""
from __future__ import annotations

import inspect
import math
import traceback
from typing import Any, Callable, Optional

from swiftk.errors import UsageError

#: what trl passes besides the dataset's columns, which a reward function never sees
_TRL_ONLY = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments")


class RewardError(UsageError):
    """A reward function failed during the run (it is the user's or a plugin's code: one line, exit 2)."""


def completion_text(completion: Any) -> str:
    """trl's completion (text, or a conversation ``[{"role": "assistant", "content": ...}]``) as text."""
    if isinstance(completion, list):
        return "".join(str(m.get("content") or "") for m in completion if isinstance(m, dict))
    return str(completion)


def instantiate(value: Any, args: Any, tokenizer: Any) -> Callable[..., Any]:
    """A registered class is built once: its ``__init__`` gets, by name, ``args``, ``tokenizer`` and any
    of the run's arguments (``cosine_max_len``, ...); a function is used as it is."""
    if not inspect.isclass(value):
        return value
    try:
        params = inspect.signature(value.__init__).parameters
    except (TypeError, ValueError):
        return value()
    kwargs: dict[str, Any] = {}
    for name in params:
        if name == "self":
            continue
        if name == "args":
            kwargs["args"] = args
        elif name == "tokenizer":
            kwargs["tokenizer"] = tokenizer
        elif name in args:
            kwargs[name] = args.get(name)
    return value(**kwargs)


class CheckedReward:
    """One reward in trl's calling convention, with the checks that name it when it misbehaves."""

    def __init__(self, name: str, fn: Callable[..., Any], plugin: Optional[str] = None):
        self.__name__ = name  # trl logs rewards/<name>/mean
        self.name = name
        self.fn = fn
        self.plugin = plugin
        self._accepts = _accepted_keywords(fn)

    def _where(self) -> str:
        return f"reward function '{self.name}'" + (f" (plugin '{self.plugin}')" if self.plugin else "")

    def __call__(self, prompts: list, completions: list, completion_ids: list, **kwargs: Any) -> list[float]:
        columns = {k: v for k, v in kwargs.items() if k not in _TRL_ONLY}
        columns.update(completion_token_ids=completion_ids, response_token_ids=completion_ids, prompts=prompts)
        if self._accepts is not None:
            columns = {k: v for k, v in columns.items() if k in self._accepts}
        texts = [completion_text(c) for c in completions]
        try:
            values = self.fn(texts, **columns)
        except UsageError as exc:
            raise RewardError(f"{self._where()}: {exc}") from exc
        except Exception as exc:
            raise RewardError(f"{self._where()} raised {type(exc).__name__}: {exc} ({_origin(exc)})") from exc
        return self.check(values, len(texts))

    def check(self, values: Any, expected: int) -> list[float]:
        """The values as floats, or a :class:`RewardError` saying what is wrong with them."""
        try:
            values = list(values)
        except TypeError:
            raise RewardError(f"{self._where()} returned {type(values).__name__}; it must return a list of "
                              f"{expected} floats, one per completion") from None
        if len(values) != expected:
            raise RewardError(f"{self._where()} returned {len(values)} values for {expected} completions; it must "
                              f"return one float per completion")
        out = []
        for index, value in enumerate(values):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise RewardError(f"{self._where()} returned {value!r} for completion {index}; rewards must be "
                                  f"numbers") from None
            if not math.isfinite(number):
                raise RewardError(f"{self._where()} returned {number} for completion {index}; rewards must be "
                                  f"finite numbers")
            out.append(number)
        return out


def _accepted_keywords(fn: Callable[..., Any]) -> Optional[set]:
    """The keyword names ``fn`` takes, or None when it takes ``**kwargs`` (it gets every column)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _origin(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc``: where the reward's code failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "no traceback"


class RewardModelReward:
    """``--reward_model`` (+ ``--reward_adapters``) as a reward: the prompt and the completion as one
    conversation, scored by the one-output classifier ``--rlhf_type rm`` trains."""

    def __init__(self, args: Any, template: Any):
        from swiftk.pipelines.reward_model import load_reward_model, reward_args

        self.model, processor, info = load_reward_model(args, with_processor=True)
        from swiftk.pipelines.model import get_template

        # the reward model's own template (its tokenizer), in the run's template family
        self.template = get_template(reward_args(args), processor, info, mode="train")

    def __call__(self, completions: list[str], prompts: list, **columns: Any) -> list[float]:
        from swiftk.pipelines.reward_model import score

        rows = [{"messages": list(prompt) + [{"role": "assistant", "content": completion}]}
                for prompt, completion in zip(prompts, completions)]
        return score(self.model, self.template, rows)


def build_rewards(args: Any, template: Any, tokenizer: Any) -> list[CheckedReward]:
    """``--reward_funcs`` in order, then ``--reward_model``; at least one of them is required."""
    from swiftk.host import get_host

    host = get_host()
    rewards = []
    for name in args.get("reward_funcs") or []:
        entry = host.registry("rewards").entry(name) if name in host.registry("rewards") else None
        value = host.get("rewards", name)  # a missing name: the registry's error with suggestions
        rewards.append(CheckedReward(name, instantiate(value, args, tokenizer), entry.plugin if entry else None))
    if args.get("reward_model"):
        rewards.append(CheckedReward("reward_model", RewardModelReward(args, template)))
    if not rewards:
        raise UsageError("--rlhf_type grpo needs a reward: --reward_funcs (accuracy, format, cosine, repetition, or "
                         "one a plugin registers) and/or --reward_model")
    return rewards
