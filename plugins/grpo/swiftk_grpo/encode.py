"""Standard rows → GRPO's rows: the prompt as a conversation (trl's ``prompt`` column), every other
column kept for the reward functions (``solution``, ...).

The prompt is the conversation up to its last user turn: a reference answer in the row (the last
assistant message) is not shown to the model.  Each prompt is encoded once here with the
template, so that a prompt longer than ``--max_length`` (the maximum *prompt* length for GRPO, as
on the page) is dropped or cut by ``--truncation_strategy`` before training, not mid-run.
"""

from __future__ import annotations

from typing import Any, Callable

from swiftk.api import ORIGIN


def prompt_messages(messages: list[dict]) -> list[dict]:
    """The conversation without its final assistant answer (the dataset's reference, if any)."""
    messages = [dict(m) for m in messages]
    while messages and messages[-1].get("role") == "assistant":
        messages.pop()
    return messages


def grpo_encoder(template: Any, args: Any, dataset: Any) -> Callable[[dict], dict]:
    def encode(row: dict) -> dict:
        prompt = prompt_messages(row.get("messages") or [])
        if not prompt or prompt[-1].get("role") not in ("user", "tool"):
            raise ValueError("the row has no user turn to answer")
        media = [c for c in ("images", "videos", "audios") if row.get(c)]
        if media:
            raise ValueError(f"the row has {'/'.join(media)}: GRPO with media is not supported yet (DPO is)")
        template.encode({**row, "messages": prompt}, add_generation_prompt=True)  # ValueError: too long
        columns = {k: v for k, v in row.items() if k not in ("messages", ORIGIN)}
        return {"prompt": [{"role": m["role"], "content": m.get("content") or ""} for m in prompt], **columns}

    return encode
