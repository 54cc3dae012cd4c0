"""Advantages as ms-swift 3.12 computes them (``--advantage_estimator``, ``--scale_rewards``), the
KL-in-reward penalty, and DAPO's zero-variance groups: plain tensor functions, tested on fixed rewards.

trl 1.16 computes only GRPO's advantages (group-mean baseline, scaled by the group or batch standard
deviation of the rewards); the trainer replaces them with these when the estimator is ``rloo`` or
``reinforce_plus_plus``, or when the KL term goes into the reward.
"""

from __future__ import annotations

import torch

EPS = 1e-4  # ms-swift's and trl's: a group whose rewards are all equal gets advantage 0, not NaN


def group_advantages(rewards: torch.Tensor, group: int, estimator: str = "grpo", scale: str = "group") -> torch.Tensor:
    """``rewards``: one per completion, each run of ``group`` completions sharing a prompt.

    grpo: ``r - mean(group)``; rloo: ``r - mean(the group's other rewards)`` = ``(r - mean) * K / (K - 1)``;
    reinforce_plus_plus: ``r - mean(group)``, whitened by the standard deviation of those advantages (not of
    the rewards).  ``scale``: divide by the group's std, the batch's std, or nothing.
    """
    k = int(group)
    grouped = rewards.view(-1, k)
    centered = rewards - grouped.mean(dim=1).repeat_interleave(k)
    advantages = centered * k / (k - 1) if estimator == "rloo" and k > 1 else centered
    if scale == "none":
        return advantages
    basis = centered if estimator == "reinforce_plus_plus" else rewards
    if scale == "batch":
        std = basis.std().expand_as(rewards) if basis.numel() > 1 else torch.zeros_like(rewards)
    elif scale == "group":
        std = basis.view(-1, k).std(dim=1).repeat_interleave(k) if k > 1 else torch.zeros_like(rewards)
    else:
        raise ValueError(f"scale must be group, batch or none, got {scale!r}")
    return advantages / (std + EPS)


def sequence_kl(old_logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per completion: the sum over its tokens of ``log pi_old - log pi_ref`` (ms-swift's KL in the reward)."""
    return ((old_logps - ref_logps) * mask).sum(dim=-1)


def zero_std_groups(rewards: torch.Tensor, group: int) -> torch.Tensor:
    """One bool per group: all its rewards are equal, so it carries no learning signal (DAPO drops it)."""
    std = rewards.view(-1, int(group)).std(dim=1)
    return torch.isclose(std, torch.zeros_like(std))
