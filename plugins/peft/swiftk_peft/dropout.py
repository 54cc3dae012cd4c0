"""LoRA's dropout on CPU, its masks drawn from random words instead of torch's Bernoulli sampler.

peft puts an ``nn.Dropout`` before every LoRA ``A`` matrix. On CPU, ``Tensor.bernoulli_`` costs about
4 ns per element here, and with the page's ``--lora_dropout 0.05`` the masks took 13% of a LoRA step
of the sft benchmark. :class:`LoraDropout` draws them from 64-bit words of the same generator
(``Tensor.random_``), read as four 15-bit lanes: an element is kept when its lane is at least
``round(p · 2^15)``, so the drop probability is ``p`` to within 2^-16, and kept values are scaled by
the exact inverse of the keep probability (the expectation is unchanged). Forward and backward
take about half the time of ``F.dropout``. Other devices, evaluation, and probabilities too small or
too large for 15 bits use ``F.dropout``.
"""

from __future__ import annotations

from typing import Any

import torch

_LANES = 1 << 15


class LoraDropout(torch.nn.Dropout):
    """``nn.Dropout`` (same ``p``, same place in peft's ``lora_dropout`` dicts) with the CPU masks above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        threshold = round(self.p * _LANES)
        if not self.training or x.device.type != "cpu" or not 0 < threshold < _LANES:
            return super().forward(x)
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64).random_()  # 63 uniform bits each
        lanes = words.view(torch.int16)[:n].view(x.shape) & (_LANES - 1)
        scale = _LANES / (_LANES - threshold)
        # keep = (lanes >= threshold) in integer arithmetic, in place: lanes - threshold is negative exactly for a
        # dropped element, its arithmetic shift by 15 is then -1 (else 0), plus one is the 0/1 mask.  The same
        # masks as a comparison, but bool tensors take CPU kernels without vector code (4-9x slower here)
        keep = lanes.sub_(threshold).bitwise_right_shift_(15).add_(1).to(x.dtype)
        if x.dtype == torch.float32:
            return x * keep.mul_(scale)
        return (x * keep).mul_(scale)  # the scale not rounded to a half-precision mask


def use_lora_dropout(model: Any) -> int:
    """Replace every LoRA dropout of ``model`` by :class:`LoraDropout`; returns how many were replaced."""
    replaced = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        for name, dropout in list(dropouts.items()):
            if type(dropout) is torch.nn.Dropout and dropout.p > 0:
                dropouts[name] = LoraDropout(dropout.p)
                replaced += 1
    return replaced
