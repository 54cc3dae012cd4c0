"""The reward calling convention of ``register_rewards``, in one place.

A registered reward is a callable ``reward(completions, **columns) -> list[float]``: ``completions``
are the answers as text; each keyword is a list aligned with them: the dataset's columns
(``solution``, ...) and what the trainer adds (``completion_token_ids``, ms-swift's
``response_token_ids``, ``prompts``).  A function without ``**kwargs`` gets only the keywords it
names.  A registered class is built once (:func:`build_reward`) and its instance called.

:func:`call_reward` enforces the rest of the contract: one finite float per completion.  A reward
that raises, returns another count, None or NaN is a :class:`RewardError` naming the reward, its
plugin and, when it raised, the file and line: the run stops with one line instead of training on
garbage.  Trainers (GRPO) and the contract suite (:mod:`swiftk.testing.rewards`) share these.
Imports nothing heavy.
"""

from __future__ import annotations

import inspect
import math
import traceback
from typing import Any, Callable, Mapping, Optional, Sequence

from swiftk.errors import UsageError

__all__ = ["RewardError", "build_reward", "call_reward", "accepted_keywords"]


class RewardError(UsageError):
    """A reward function failed during a run (its code is the user's or a plugin's: one line, exit 2)."""


def build_reward(value: Any, args: Any = None, tokenizer: Any = None) -> Callable[..., Any]:
    """A registered class built once: its ``__init__`` gets, by name, ``args``, ``tokenizer`` and any
    single argument of the run (``cosine_max_len``, ...); a function is returned as it is."""
    if not inspect.isclass(value):
        return value
    if value.__init__ is object.__init__:  # no constructor of its own
        return value()
    try:
        params = inspect.signature(value.__init__).parameters
    except (TypeError, ValueError):
        return value()
    kwargs: dict[str, Any] = {}
    for name, param in params.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name == "args":
            kwargs["args"] = args
        elif name == "tokenizer":
            kwargs["tokenizer"] = tokenizer
        elif args is not None and name in args:
            kwargs[name] = args.get(name)
    return value(**kwargs)


def accepted_keywords(fn: Callable[..., Any]) -> Optional[set]:
    """The keyword names ``fn`` takes, or None when it takes ``**kwargs`` (it gets every column)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def call_reward(
    fn: Callable[..., Any],
    completions: Sequence[str],
    columns: Mapping[str, Any],
    *,
    name: str,
    plugin: Optional[str] = None,
) -> list[float]:
    """``fn(completions, **columns)`` checked: one finite float per completion, or a :class:`RewardError`."""
    where = f"reward function '{name}'" + (f" (plugin '{plugin}')" if plugin else "")
    accepts = accepted_keywords(fn)
    if accepts is not None:
        columns = {k: v for k, v in columns.items() if k in accepts}
    try:
        values = fn(list(completions), **columns)
    except UsageError as exc:
        raise RewardError(f"{where}: {exc}") from exc
    except Exception as exc:
        raise RewardError(f"{where} raised {type(exc).__name__}: {exc} ({_origin(exc)})") from exc
    return _checked(values, len(completions), where)


def _checked(values: Any, expected: int, where: str) -> list[float]:
    try:
        values = list(values)
    except TypeError:
        raise RewardError(
            f"{where} returned {type(values).__name__}; it must return a list of {expected} floats, one per completion"
        ) from None
    if len(values) != expected:
        raise RewardError(
            f"{where} returned {len(values)} values for {expected} completions; it must return one float per completion"
        )
    out = []
    for index, value in enumerate(values):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RewardError(f"{where} returned {value!r} for completion {index}; rewards must be numbers") from None
        if not math.isfinite(number):
            raise RewardError(f"{where} returned {number} for completion {index}; rewards must be finite numbers")
        out.append(number)
    return out


def _origin(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc``: where the reward's code failed."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "no traceback"
