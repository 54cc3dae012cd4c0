"""``--orm_model`` and ``--prm_model`` as scorers: ``scorer(completions, rows) -> one float per completion``.

A name in the rewards registry (GRPO's ``accuracy``, a plugin's, an ms-swift file's ``orms``/``prms``) is
called with the rewards convention (``reward(completions, solution=..., **columns)``); one written for
ms-swift's sampler (``__call__(infer_requests, ground_truths)``) gets those instead. A reward returning a
list per completion (a score per step) counts its lowest. Anything else names a reward model (a folder or
a hub id): each (partial) answer is scored by it through ``--infer_backend reward`` (swift-plugin-rlhf).
"""

from __future__ import annotations

import functools
import inspect
import os
from typing import Any, Callable, Optional

from swiftk.api import InferRequest, UsageError

from swiftk_sample.records import prompt, reference, reward_columns

Scorer = Callable[[list, list], list]


def _lowest_of_lists(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` whose per-step lists count as their lowest step (same signature, for keyword filtering)."""

    @functools.wraps(fn)
    def reduced(*args: Any, **kwargs: Any) -> Any:
        values = fn(*args, **kwargs)
        if isinstance(values, (list, tuple)):
            return [min(v) if isinstance(v, (list, tuple)) and v else v for v in values]
        return values

    return reduced


def _takes_infer_requests(fn: Callable[..., Any]) -> bool:
    try:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0].name == "infer_requests"


def answered(completions: list, rows: list, system: Optional[str]) -> list:
    """Each completion as the assistant's turn after its row's prompt."""
    return [
        InferRequest(prompt(row, system) + [{"role": "assistant", "content": c}]) for c, row in zip(completions, rows)
    ]


def reward_scorer(fn: Callable[..., Any], name: str, plugin: Optional[str], system: Optional[str]) -> Scorer:
    from swiftk.api import call_reward

    checked = _lowest_of_lists(fn)

    def score(completions: list, rows: list) -> list:
        if _takes_infer_requests(fn):  # ms-swift's sampler convention
            columns = {"ground_truths": [reference(row) for row in rows]}
            return call_reward(checked, answered(completions, rows, system), columns, name=name, plugin=plugin)
        return call_reward(checked, completions, reward_columns(rows, system), name=name, plugin=plugin)

    return score


def model_scorer(model: str, args: Any, flag: str) -> Scorer:
    """A reward model scoring each conversation (prompt and answer) through the ``reward`` engine."""
    from swiftk.api import check_requires, derived_args, get_host, is_lazy_reference, resolve_reference

    entry = get_host().registry("infer_engines").entry_or_none("reward")
    if entry is None:
        raise UsageError(
            f"{flag} {model}: scoring with a reward model needs the reward engine: pip install swift-plugin-rlhf "
            f"(or name a reward function that a plugin registers)"
        )
    spec = entry.load()
    check_requires(getattr(spec, "requires", None) or [], flag)
    adapters: list[str] = []
    base = model
    if os.path.isfile(os.path.join(model, "adapter_config.json")):
        adapters, base = [model], None  # a LoRA reward model: its base comes from the adapter's records
    engine_cls = resolve_reference(spec.engine_cls) if is_lazy_reference(spec.engine_cls) else spec.engine_cls
    engine = engine_cls.from_args(derived_args(args, model=base, adapters=adapters, model_type=None, template=None))
    system = args.get("system")

    def score(completions: list, rows: list) -> list:
        return [float(r.choices[0].message["content"]) for r in engine.infer(answered(completions, rows, system))]

    score.close = engine.close  # type: ignore[attr-defined]
    return score


def build_scorer(value: Optional[str], args: Any, flag: str, tokenizer: Any = None) -> Optional[Scorer]:
    """The scorer ``--orm_model``/``--prm_model`` names, or None when not given."""
    if not value:
        return None
    from swiftk.api import build_reward, get_host

    entry = get_host().registry("rewards").entry_or_none(value)
    if entry is not None:
        fn = build_reward(entry.load(), args, tokenizer)
        return reward_scorer(fn, value, entry.plugin, args.get("system"))
    if os.path.isdir(value) or value.count("/") == 1:
        return model_scorer(value, args, flag)
    names = sorted(get_host().registry("rewards").names())
    raise UsageError(
        f"{flag} {value}: no reward of that name is registered ({', '.join(names) or 'none installed'}; "
        f"swift-plugin-grpo provides accuracy), and it is not a reward model folder"
    )
