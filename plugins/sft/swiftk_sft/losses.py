"""Token losses for ``--loss_type``; each is ``fn(outputs, labels, loss_scale=None, num_items_in_batch=None)``."""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F


def _token_losses(outputs: Any, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token cross entropy of next-token prediction, and the mask of tokens that count."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    logits = logits[:, :-1, :].float()
    target = labels[:, 1:]
    mask = target != -100
    losses = F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), target.clamp(min=0).reshape(-1), reduction="none"
    ).view_as(target)
    return losses * mask, mask


def _mean(losses: torch.Tensor, mask: torch.Tensor, num_items_in_batch: Optional[Any]) -> torch.Tensor:
    """The summed token losses over the accumulated batch's label count, else over this batch's."""
    denominator = num_items_in_batch if num_items_in_batch is not None else mask.sum().clamp(min=1)
    return losses.sum() / denominator


def cross_entropy(
    outputs: Any,
    labels: torch.Tensor,
    loss_scale: Optional[torch.Tensor] = None,
    num_items_in_batch: Optional[Any] = None,
) -> torch.Tensor:
    """Mean cross entropy over the tokens with a label (loss_scale ignored)."""
    losses, mask = _token_losses(outputs, labels)
    return _mean(losses, mask, num_items_in_batch)


def loss_scale_cross_entropy(
    outputs: Any,
    labels: torch.Tensor,
    loss_scale: Optional[torch.Tensor] = None,
    num_items_in_batch: Optional[Any] = None,
) -> torch.Tensor:
    """Cross entropy with each token weighted by the template's loss_scale (ms-swift's loss_scale)."""
    losses, mask = _token_losses(outputs, labels)
    if loss_scale is not None:
        losses = losses * loss_scale[:, 1:].to(losses.dtype)
    return _mean(losses, mask, num_items_in_batch)


def dft(loss_fn: Any) -> Any:
    """``--enable_dft_loss`` (later ms-swift; Dynamic Fine-Tuning, arXiv 2508.05629): each token's cross entropy
    weighted by the model's own probability of the label, ``exp(-loss)``, held constant in the backward pass; the
    template's loss_scale (``loss_fn`` = loss_scale_cross_entropy) applies after it, as in ms-swift."""

    def dft_loss(
        outputs: Any,
        labels: torch.Tensor,
        loss_scale: Optional[torch.Tensor] = None,
        num_items_in_batch: Optional[Any] = None,
    ) -> torch.Tensor:
        losses, mask = _token_losses(outputs, labels)
        losses = losses * torch.exp(-losses).detach()
        if loss_fn is loss_scale_cross_entropy and loss_scale is not None:
            losses = losses * loss_scale[:, 1:].to(losses.dtype)
        return _mean(losses, mask, num_items_in_batch)

    dft_loss.dft_of = loss_fn
    return dft_loss
