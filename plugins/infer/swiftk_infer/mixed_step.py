"""One forward for a decoding step and the prompts that join it.

Under load, nearly every decoding step of the pt engine also has newcomers to prefill, and a
forward pass of a small model costs mostly its fixed overhead (about 1.3 ms for one token of
tiny-chat against 1.8 ms for sixteen): prefilling the newcomers in their own forward nearly
doubles the cost of such a step. Here both go through the model at once, laid end to end in one
row: first one token per running sequence, then each newcomer's prompt (left-padded to the
longest). The linear layers see one batch; attention is the only part that needs the two
shapes, so :func:`mixed_attention` (registered with transformers' ``AttentionInterface``) runs
sdpa twice: the running rows' single queries against their cache with the running mask, and the
newcomers' prompts against their own cache with the prefill mask. :class:`StepCache` is what the
attention layers see as the cache during such a step: it splits each layer's new keys and values
between the two caches and hands both halves to the attention function.

Everywhere else (a plain prefill or decode, ``model.generate``) the registered function is
transformers' sdpa, so switching a model to it changes no other result.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

#: the attention implementation's name in transformers' registries
ATTENTION = "swiftk_mixed_step"


class StepCache:
    """The caches of one mixed step: ``running`` ([B, heads, T, dim] per layer) and ``joining``
    ([J, heads, prefix, dim], empty without a prefix), with the step's layout and additive masks."""

    def __init__(
        self,
        running: Any,
        joining: Any,
        n_running: int,
        n_joining: int,
        width: int,
        running_mask: torch.Tensor,
        joining_mask: torch.Tensor,
    ):
        self.running, self.joining = running, joining
        self.n_running, self.n_joining, self.width = n_running, n_joining, width
        self.running_mask, self.joining_mask = running_mask, joining_mask

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args: Any, **kwargs: Any
    ) -> tuple["Halves", "Halves"]:
        """Append each half's new keys and values to its cache; both halves go on to the attention."""
        b, j, w = self.n_running, self.n_joining, self.width
        out = []
        for states, part in ((key_states, "keys"), (value_states, "values")):
            flat = states[0]  # [heads, B + J·W, dim]
            heads, dim = flat.shape[0], flat.shape[2]
            out.append(
                (
                    flat[:, :b].transpose(0, 1).unsqueeze(2),  # [B, heads, 1, dim]
                    flat[:, b:].reshape(heads, j, w, dim).transpose(0, 1),
                )
            )  # [J, heads, W, dim]
        (run_k, join_k), (run_v, join_v) = out
        run_k, run_v = self.running.update(run_k, run_v, layer_idx)
        join_k, join_v = self.joining.update(join_k, join_v, layer_idx)
        return Halves(run_k, join_k, self), Halves(run_v, join_v, self)

    def get_seq_length(self, layer_idx: int = 0) -> int:  # asked by some models before their forward
        return self.running.get_seq_length(layer_idx)


class Halves:
    """The running and the joining half of one layer's keys (or values) in a mixed step."""

    __slots__ = ("running", "joining", "step")

    def __init__(self, running: torch.Tensor, joining: torch.Tensor, step: StepCache):
        self.running, self.joining, self.step = running, joining, step


def mixed_attention(
    module: Any,
    query: torch.Tensor,
    key: Any,
    value: Any,
    attention_mask: Optional[torch.Tensor],
    dropout: float = 0.0,
    scaling: Optional[float] = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """sdpa for each half of a mixed step; transformers' sdpa for anything else."""
    if not isinstance(key, Halves):
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    step = key.step
    b, j, w = step.n_running, step.n_joining, step.width
    flat = query[0]  # [heads, B + J·W, dim]
    heads, dim = flat.shape[0], flat.shape[2]
    gqa = heads != key.running.shape[1]
    sdpa = torch.nn.functional.scaled_dot_product_attention
    running = sdpa(
        flat[:, :b].transpose(0, 1).unsqueeze(2),
        key.running,
        value.running,
        attn_mask=step.running_mask,
        scale=scaling,
        enable_gqa=gqa,
    )  # [B, heads, 1, dim]
    joining = sdpa(
        flat[:, b:].reshape(heads, j, w, dim).transpose(0, 1),
        key.joining,
        value.joining,
        attn_mask=step.joining_mask,
        scale=scaling,
        enable_gqa=gqa,
    )  # [J, heads, W, dim]
    out = torch.cat([running.squeeze(2), joining.transpose(1, 2).reshape(j * w, heads, dim)], 0)
    return out.unsqueeze(0), None  # [1, B + J·W, heads, dim]


def register_attention() -> None:
    """Add :func:`mixed_attention` (with sdpa's mask function) to transformers' registries (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, mixed_attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
