"""Standard rows → GRPO's rows: the prompt as a conversation (trl's ``prompt`` column), every other
column kept for the reward functions (``solution``, ...).

The prompt is the conversation up to its last user turn: a reference answer in the row (the last
assistant message) is not shown to the model.  Each prompt is encoded once here with the
template, so that a prompt longer than ``--max_length`` (the maximum *prompt* length for GRPO, as
on the page) is dropped or cut by ``--truncation_strategy`` before training, not mid-run.

Rows with images (``images`` beside ``<image>`` tags, ms-swift's form) are kept for the families whose
template says ``grpo_media`` (Qwen2-VL, Qwen2.5-VL: flat pixel tensors read in batch order): with such a
template every row's ``images`` (none for a text row) is packed into the ``grpo_images`` column (bytes, so the
encoded dataset's schema does not depend on which rows come first), and :mod:`swiftk_grpo.media` takes them
to the rollouts, the log-prob forward passes and, as ``images`` again, the reward functions.
Other families, videos, audio, ``--use_vllm`` and ``--dynamic_sample`` drop such rows with the reason.
"""

from __future__ import annotations

from typing import Any, Callable

from swiftk.api import ORIGIN
from swiftk_grpo.media import IMAGES_COLUMN
from swiftk_rlhf.media import pack


def prompt_messages(messages: list[dict]) -> list[dict]:
    """The conversation without its final assistant answer (the dataset's reference, if any)."""
    messages = [dict(m) for m in messages]
    while messages and messages[-1].get("role") == "assistant":
        messages.pop()
    return messages


def grpo_encoder(template: Any, args: Any, dataset: Any) -> Callable[[dict], dict]:
    takes_images = bool((getattr(getattr(template, "meta", None), "extra", None) or {}).get("grpo_media"))

    def encode(row: dict) -> dict:
        prompt = prompt_messages(row.get("messages") or [])
        if not prompt or prompt[-1].get("role") not in ("user", "tool"):
            raise ValueError("the row has no user turn to answer")
        other = [c for c in ("videos", "audios") if row.get(c)]
        if other:
            raise ValueError(f"the row has {'/'.join(other)}: GRPO takes images only (DPO takes videos and audio)")
        if row.get("images"):
            if not takes_images:
                raise ValueError(
                    "GRPO with images takes the Qwen2-VL and Qwen2.5-VL families (templates qwen2_vl, qwen2_5_vl, "
                    f"qvq), not template {template.template_type}"
                )
            for flag in ("use_vllm", "dynamic_sample"):
                if args.get(flag):
                    raise ValueError(f"GRPO with images does not take --{flag} true yet")
        template.encode({**row, "messages": prompt}, add_generation_prompt=True)  # ValueError: too long
        columns = {k: v for k, v in row.items() if k not in ("messages", ORIGIN)}
        if takes_images:  # bytes in every row: the column's type never depends on the first
            columns[IMAGES_COLUMN] = pack(columns.pop("images", None) or [])
        return {"prompt": [{"role": m["role"], "content": m.get("content") or ""} for m in prompt], **columns}

    return encode
