"""The reward model of ``--rlhf_type rm`` / PPO: loading and scoring live in the kernel
(:mod:`swiftk.pipelines.reward_model`, shared with GRPO); :func:`pair_accuracy` is the rm check."""
from __future__ import annotations

from typing import Any

from swiftk.api import load_reward_model, reward_args, score, scorer

__all__ = ["load_reward_model", "reward_args", "score", "scorer", "pair_accuracy"]


def pair_accuracy(model: Any, template: Any, rows: list[dict]) -> float:
    """Share of preference rows whose chosen conversation scores above the rejected one."""
    from swiftk_rlhf.encode import rejected_row

    pairs = [(r, rejected_row(r)) for r in rows]
    pairs = [(c, r) for c, r in pairs if r is not None]
    if not pairs:
        return 0.0
    chosen = score(model, template, [c for c, _ in pairs])
    rejected = score(model, template, [r for _, r in pairs])
    return sum(c > r for c, r in zip(chosen, rejected)) / len(pairs)
