"""Segments → token ids, with each token knowing the segment it came from.

A template renders a conversation into :class:`Segment` s (text or token ids, each with a kind).  The
text runs are tokenized *in one piece* (offsets map tokens back to segments), so the ids equal those
of tokenizing the whole rendered string — exactly what ``apply_chat_template`` + tokenize gives — and
no merge is broken at a segment boundary.  A token belongs to the segment holding its last character
(the space in ``[/INST] answer`` merges into the answer's first token, which is then trained).
Tokenizers without offsets (slow, sentencepiece ones) fall back to tokenizing each segment alone.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any, Optional, Union

#: Segment kinds.  "context" is input only (system, queries, role headers); "response" is what the
#: model generates; "end" closes a response (end-of-turn token, EOS); "observation" is tool output
#: inside an assistant turn (input only).
CONTEXT, RESPONSE, END, OBSERVATION = "context", "response", "end", "observation"


@dataclass
class Segment:
    content: Union[str, list[int]]
    kind: str = CONTEXT
    round: int = -1  # index of the conversation round it belongs to
    query: Optional[str] = None  # that round's query text (agent loss scales look at it)

    @property
    def is_text(self) -> bool:
        return isinstance(self.content, str)


def merge_segments(segments: list[Segment]) -> list[Segment]:
    """Drop empty segments and join neighbours of the same kind and round."""
    out: list[Segment] = []
    for seg in segments:
        if not seg.content:
            continue
        last = out[-1] if out else None
        if (
            last is not None
            and last.is_text
            and seg.is_text
            and last.kind == seg.kind
            and last.round == seg.round
            and last.query == seg.query
        ):
            last.content += seg.content  # type: ignore[operator]
        else:
            out.append(Segment(seg.content, seg.kind, seg.round, seg.query))
    return out


def tokenize_segments(tokenizer: Any, segments: list[Segment]) -> tuple[list[int], list[int]]:
    """Token ids of ``segments`` and, for each token, the index of its segment."""
    ids: list[int] = []
    owner: list[int] = []
    run: list[int] = []
    for index, seg in enumerate(segments):
        if seg.is_text:
            run.append(index)
            continue
        _flush(tokenizer, segments, run, ids, owner)
        run = []
        ids.extend(seg.content)  # type: ignore[arg-type]
        owner.extend([index] * len(seg.content))
    _flush(tokenizer, segments, run, ids, owner)
    return ids, owner


def _flush(tokenizer: Any, segments: list[Segment], run: list[int], ids: list[int], owner: list[int]) -> None:
    if not run:
        return
    if not getattr(tokenizer, "is_fast", False):
        for index in run:
            piece = tokenizer(segments[index].content, add_special_tokens=False)["input_ids"]
            ids.extend(piece)
            owner.extend([index] * len(piece))
        return
    text = "".join(segments[i].content for i in run)  # type: ignore[misc]
    starts, pos = [], 0
    for index in run:
        starts.append(pos)
        pos += len(segments[index].content)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    for token_id, (start, end) in zip(enc["input_ids"], enc["offset_mapping"]):
        anchor = end - 1 if end > start else start
        k = max(0, bisect.bisect_right(starts, min(anchor, len(text) - 1)) - 1)
        ids.append(token_id)
        owner.append(run[k])
