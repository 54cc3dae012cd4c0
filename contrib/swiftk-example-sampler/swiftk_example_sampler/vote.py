"""Self-consistency: the final number most completions of a prompt agree on is taken as its answer."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from typing import Optional

from swiftk.api import SampleContext, UsageError

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def final_number(text: str) -> Optional[str]:
    """The last number in ``text`` (``"3 + 4 = 7."`` -> ``"7"``), or None."""
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


class MajorityVote:
    def __init__(self, context: SampleContext):
        if context.engine is None:
            raise UsageError("--sampler_type majority_vote samples its votes: choose a --sampler_engine, not no")
        self.context = context
        self.n = int(context.args.num_return_sequences)
        self.keep = int(context.args.n_best_to_keep)

    def sample(self, rows: list[dict]) -> list[dict]:
        from swiftk.api import InferRequest

        ctx = self.context
        config = dataclasses.replace(ctx.config, n=self.n)
        responses = ctx.engine.infer([InferRequest(ctx.prompt(row)) for row in rows], config)
        lines = []
        for row, response in zip(rows, responses):
            texts = [c.message.get("content") or "" for c in response.choices]
            votes = Counter(a for a in map(final_number, texts) if a is not None)
            if not votes:
                continue
            answer, count = votes.most_common(1)[0]
            if 2 * count < len(texts):
                continue  # no majority: the prompt is left out
            winners = list(dict.fromkeys(t for t in texts if final_number(t) == answer))[: self.keep]
            for text in winners:
                lines.append(
                    {
                        "messages": ctx.prompt(row) + [{"role": "assistant", "content": text}],
                        "id": ctx.row_id(row),
                        "answer": answer,
                        "votes": f"{count}/{len(texts)}",
                    }
                )
        return lines
