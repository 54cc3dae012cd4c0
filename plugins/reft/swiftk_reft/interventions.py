"""The six ReFT interventions, with pyreft 0.1's formulas (``h`` a hidden state, ``R`` a low-rank
matrix with orthonormal rows, ``W``/``W1``/``W2`` learned projections, ``b`` a learned bias):

============================  =====================================
``LoreftIntervention``        ``h + Rᵀ(act(Wh + b) − Rh)``
``NoreftIntervention``        ``h + W2ᵀ(act(W1h + b) − W2h)``
``ConsreftIntervention``      ``h + Rᵀ(b − Rh)``
``LobireftIntervention``      ``h + Rᵀb``
``DireftIntervention``        ``h + Rᵀ act(Wh + b)``
``NodireftIntervention``      ``h + W2ᵀ act(W1h + b)``
============================  =====================================

``R`` is kept orthonormal with ``torch.nn.utils.parametrizations.orthogonal`` as in pyreft.  Extra
``--reft_args``: ``dropout`` (default 0), ``act_fn`` (a transformers activation name; default linear),
``add_bias`` (the ``W2`` projection's bias of No(di)reft; default false).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from swiftk.api import UsageError

_ALLOWED_ARGS = {"dropout", "act_fn", "add_bias"}


class LowRankRotateLayer(nn.Module):
    """``x -> x @ W`` with ``W`` of shape (n, m), n >= m, initialised orthogonal."""

    def __init__(self, n: int, m: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, m))
        nn.init.orthogonal_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x.to(self.weight.dtype), self.weight)


def _act(name: Any):
    if not name or name == "linear":
        return nn.Identity()
    from transformers.activations import ACT2FN

    if name not in ACT2FN:
        raise UsageError(f"--reft_args act_fn {name!r}: not an activation transformers knows (e.g. relu, gelu, silu)")
    return ACT2FN[name]


class Intervention(nn.Module):
    """Base: ``embed_dim``, ``low_rank_dimension`` and the ``--reft_args`` extras."""

    def __init__(
        self, embed_dim: int, low_rank_dimension: int, dropout: float = 0.0, act_fn: Any = None, add_bias: bool = False
    ):
        super().__init__()
        if low_rank_dimension > embed_dim:
            raise UsageError(f"--reft_rank {low_rank_dimension} is larger than the hidden size {embed_dim}")
        self.embed_dim, self.rank = embed_dim, low_rank_dimension
        self.dropout = nn.Dropout(float(dropout))
        self.act_fn = _act(act_fn)
        self.add_bias = bool(add_bias)

    def _rotate(self) -> nn.Module:
        return nn.utils.parametrizations.orthogonal(LowRankRotateLayer(self.embed_dim, self.rank))


class LoreftIntervention(Intervention):
    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.rotate_layer = self._rotate()
        self.learned_source = nn.Linear(self.embed_dim, self.rank)

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        rotated = self.rotate_layer(base)
        out = base + torch.matmul(self.act_fn(self.learned_source(base)) - rotated, self.rotate_layer.weight.T)
        return self.dropout(out.to(base.dtype))


class NoreftIntervention(Intervention):
    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.proj_layer = nn.Linear(self.embed_dim, self.rank, bias=self.add_bias)
        self.learned_source = nn.Linear(self.embed_dim, self.rank)

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        projected = self.proj_layer(base)
        out = base + torch.matmul(self.act_fn(self.learned_source(base)) - projected, self.proj_layer.weight)
        return self.dropout(out.to(base.dtype))


class ConsreftIntervention(Intervention):
    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.rotate_layer = self._rotate()
        self.learned_source = nn.Parameter(torch.rand(self.rank))

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        rotated = self.rotate_layer(base)
        out = base + torch.matmul(self.learned_source - rotated, self.rotate_layer.weight.T)
        return out.to(base.dtype)


class LobireftIntervention(Intervention):
    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.rotate_layer = self._rotate()
        self.learned_source = nn.Parameter(torch.rand(self.rank))

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        out = base + torch.matmul(self.learned_source, self.rotate_layer.weight.T)
        return self.dropout(out.to(base.dtype))


class DireftIntervention(Intervention):
    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.rotate_layer = self._rotate()
        self.learned_source = nn.Linear(self.embed_dim, self.rank)

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        cast = base.to(self.learned_source.weight.dtype)
        out = base + torch.matmul(
            self.act_fn(self.learned_source(cast)).to(self.rotate_layer.weight.dtype), self.rotate_layer.weight.T
        )
        return self.dropout(out.to(base.dtype))


class NodireftIntervention(Intervention):
    def __init__(self, *a: Any, **kw: Any):
        super().__init__(*a, **kw)
        self.proj_layer = nn.Linear(self.embed_dim, self.rank, bias=self.add_bias)
        self.learned_source = nn.Linear(self.embed_dim, self.rank)

    def forward(self, base: torch.Tensor) -> torch.Tensor:
        out = base + torch.matmul(self.act_fn(self.learned_source(base)), self.proj_layer.weight)
        return self.dropout(out.to(base.dtype))


INTERVENTIONS = {
    cls.__name__: cls
    for cls in (
        LoreftIntervention,
        NoreftIntervention,
        ConsreftIntervention,
        LobireftIntervention,
        DireftIntervention,
        NodireftIntervention,
    )
}


def make(name: str, embed_dim: int, rank: int, extra: dict) -> Intervention:
    if name not in INTERVENTIONS:
        raise UsageError(f"--reft_intervention_type {name}: valid: {', '.join(INTERVENTIONS)}")
    unknown = set(extra) - _ALLOWED_ARGS
    if unknown:
        raise UsageError(
            f"--reft_args: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(_ALLOWED_ARGS))}"
        )
    return INTERVENTIONS[name](embed_dim, rank, **extra)
