"""``--loss_type kit_smooth``: cross entropy with label smoothing.

Called by the sft trainer as ``fn(outputs, labels, loss_scale=None, num_items_in_batch=None)`` with the
labels UNSHIFTED (docs/plugins.md): the logits at position t predict ``labels[:, t + 1]``, -100 marks
positions without a label.  Each labelled token costs ``(1 - eps) * NLL + eps * mean(-log p)`` over the
vocabulary; the sum is divided by ``num_items_in_batch`` when given (gradient accumulation), else by
the number of labelled tokens.
"""

from __future__ import annotations

from typing import Any, Optional

#: The smoothing weight eps.
SMOOTHING = 0.1


def label_smoothed_loss(
    outputs: Any,
    labels: Any,
    loss_scale: Optional[Any] = None,
    num_items_in_batch: Optional[Any] = None,
    smoothing: float = SMOOTHING,
) -> Any:
    import torch

    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    logits = logits[:, :-1, :]
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # softmax in at least float32
    targets = labels[:, 1:].to(logits.device)
    mask = targets != -100
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    uniform = -log_probs.mean(dim=-1)
    per_token = (1.0 - smoothing) * nll + smoothing * uniform
    weights = mask.to(per_token.dtype)
    if loss_scale is not None:
        weights = weights * loss_scale[:, 1:].to(device=per_token.device, dtype=per_token.dtype)
    total = (per_token * weights).sum()
    if num_items_in_batch is not None:
        count = torch.as_tensor(num_items_in_batch, device=total.device, dtype=total.dtype)
    else:
        count = mask.sum().to(total.dtype)
    return total / count.clamp(min=1)
