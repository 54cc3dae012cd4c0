"""``--reward_funcs kit_brevity``: prefer short answers.

``1 - n / max_completion_length``, clipped to [0, 1], where ``n`` is the completion's length in
tokens when GRPO passes ``completion_token_ids``, else in words.  The class is built once, with the
run's ``max_completion_length`` (docs/plugins.md, register_rewards).
"""

from __future__ import annotations

from typing import Any, Optional


class Brevity:
    def __init__(self, max_completion_length: Optional[int] = None):
        self.max_length = int(max_completion_length or 512)

    def __call__(self, completions: list[Any], completion_token_ids: Optional[list] = None, **columns) -> list[float]:
        scores = []
        for i, text in enumerate(completions):
            if isinstance(text, list):  # a conversation: its last message
                text = text[-1]["content"] if text else ""
            ids = completion_token_ids[i] if completion_token_ids is not None else None
            if ids is not None:
                length = len(ids)
            else:
                length = len(str(text).split())
            scores.append(min(1.0, max(0.0, 1.0 - length / self.max_length)))
        return scores
