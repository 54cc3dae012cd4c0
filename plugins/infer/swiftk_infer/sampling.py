"""Per-request sampling and incremental detokenization for the pt engine's decode loop.

Each running sequence carries its own parameters (temperature, top_k, top_p, repetition_penalty,
seed), so one batched forward serves requests that sample differently.
"""

from __future__ import annotations

from typing import Any, Optional

import torch


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """transformers' RepetitionPenaltyLogitsProcessor on one row: tokens already in the prompt or the
    output are divided by ``penalty`` (multiplied when their logit is negative)."""
    score = logits.gather(0, seen)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(0, seen, score)


def sample_token(
    logits: torch.Tensor, temperature: float, top_k: int, top_p: float, generator: Optional[torch.Generator]
) -> int:
    """One token from one row of logits: temperature, then top-k, then top-p (nucleus), then a draw.
    ValueError when the settings turn the row into no distribution (a repetition penalty of 1e-300 makes
    logits infinite)."""
    logits = logits / temperature
    vocab = logits.shape[-1]
    if 0 < top_k < vocab:
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1:
        ordered, index = logits.sort(descending=True)
        probs = ordered.softmax(-1)
        remove = probs.cumsum(-1) - probs > top_p  # keeps at least the first token
        ordered = ordered.masked_fill(remove, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(0, index, ordered)
    probs = logits.softmax(-1)
    if not bool(torch.isfinite(probs).all()):  # torch.multinomial would raise in the shared decoding step
        raise ValueError("these sampling settings give no probability distribution (non-finite values)")
    return int(torch.multinomial(probs, 1, generator=generator))


class TokenText:
    """Decode a growing list of token ids into text deltas (vLLM's incremental detokenization):
    a piece is released once it no longer ends in an incomplete UTF-8 character."""

    __slots__ = ("tokenizer", "ids", "prefix", "read")

    def __init__(self, tokenizer: Any, context: list[int]):
        self.tokenizer = tokenizer
        self.ids = list(context)  # a few prompt tokens, so the first pieces decode in context
        self.prefix = 0
        self.read = len(self.ids)

    def add(self, token: int) -> str:
        self.ids.append(token)
        decode = self.tokenizer.decode
        before = decode(self.ids[self.prefix : self.read], skip_special_tokens=False)
        after = decode(self.ids[self.prefix :], skip_special_tokens=False)
        if len(after) > len(before) and not after.endswith("\ufffd"):
            self.prefix, self.read = self.read, len(self.ids)
            return after[len(before) :]
        return ""


def token_logprobs(tokenizer: Any, logits: torch.Tensor, token: int, top: int) -> dict[str, Any]:
    """OpenAI's logprob entry of ``token`` under the model's distribution (before sampling settings)."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)

    def entry(t: int, value: float) -> dict[str, Any]:
        text = tokenizer.decode([t], skip_special_tokens=False)
        return {"token": text, "logprob": value, "bytes": list(text.encode("utf-8"))}

    out = entry(token, float(logprobs[token]))
    out["top_logprobs"] = []
    if top:
        values, indices = logprobs.topk(min(top, logprobs.shape[-1]))
        out["top_logprobs"] = [entry(int(t), float(v)) for v, t in zip(values.tolist(), indices.tolist())]
    return out
