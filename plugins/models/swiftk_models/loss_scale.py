"""Loss-scale strategies (``--loss_scale``): a weight for every rendered segment.

A strategy's ``apply(segments)`` returns the segments (possibly split) and one weight each; a
token's weight is its segment's.  Weight 0 means no loss (label -100).  Binary strategies
(``is_binary``) are expressed through ``labels`` alone; the others also return ``loss_scale``.

* ``default``: every answer and its end-of-turn marker;
* ``last_round``: only the last answer (what RLHF trains);
* ``all``: every token (``swiftk pt``);
* ``react``, ``agentflan``, ``alpha_umi``, ``qwen``: agent answers split at their keywords
  (``Action:``, ``✿FUNCTION✿:`` ...), each keyword and the text after it weighted separately
  (the scheme of ms-swift and of the AgentFlan / α-UMI papers);
* ``hermes``, ``ignore_empty_think`` (later ms-swift): the spans of an answer that match a pattern
  weighted (a hermes ``<tool_call>...</tool_call>`` twice, an empty ``<think></think>`` not at all).
"""

from __future__ import annotations

import re
from typing import Optional

from swiftk_models.encoding import END, RESPONSE, Segment

Weights = dict[str, tuple[float, float]]  # keyword -> (weight of the keyword, weight of what follows)


class DefaultLossScale:
    name = "default"
    is_binary = True

    def apply(self, segments: list[Segment]) -> tuple[list[Segment], list[float]]:
        last = max((s.round for s in segments if s.kind == RESPONSE), default=-1)
        out, weights = [], []
        for seg in segments:
            for piece, weight in self.weigh(seg, last):
                out.append(piece)
                weights.append(weight)
        return out, weights

    def weigh(self, seg: Segment, last_round: int) -> list[tuple[Segment, float]]:
        return [(seg, 1.0 if seg.kind in (RESPONSE, END) else 0.0)]


class LastRoundLossScale(DefaultLossScale):
    name = "last_round"

    def weigh(self, seg: Segment, last_round: int) -> list[tuple[Segment, float]]:
        trained = seg.kind in (RESPONSE, END) and seg.round == last_round
        return [(seg, 1.0 if trained else 0.0)]


class AllLossScale(DefaultLossScale):
    name = "all"

    def weigh(self, seg: Segment, last_round: int) -> list[tuple[Segment, float]]:
        return [(seg, 1.0)]


def split_by_keywords(text: str, keywords: list[str]) -> list[tuple[Optional[str], str]]:
    """``text`` as ``(keyword, following text)`` pairs; text before the first keyword has keyword None."""
    parts: list[tuple[Optional[str], str]] = []
    key: Optional[str] = None
    start = pos = 0
    ordered = sorted(keywords, key=len, reverse=True)
    while pos < len(text):
        hit = next((k for k in ordered if text.startswith(k, pos)), None)
        if hit is None:
            pos += 1
            continue
        if pos > start or key is not None:
            parts.append((key, text[start:pos]))
        key, start = hit, pos + len(hit)
        pos = start
    if start < len(text) or key is not None:
        parts.append((key, text[start:]))
    return parts


class KeywordLossScale(DefaultLossScale):
    """Answers weighted by keyword (ReAct-style agent data); ``query_weights`` weigh a whole answer
    by a phrase of its query."""

    is_binary = False
    response_weights: Weights = {}
    query_weights: dict[str, float] = {}

    def weigh(self, seg: Segment, last_round: int) -> list[tuple[Segment, float]]:
        if seg.kind != RESPONSE or not seg.is_text:
            return super().weigh(seg, last_round)
        for phrase, weight in self.query_weights.items():
            if seg.query and phrase in seg.query:
                return [(seg, weight)]
        out = []
        for key, text in split_by_keywords(seg.content, list(self.response_weights)):  # type: ignore[arg-type]
            key_w, text_w = self.response_weights.get(key, (1.0, 1.0)) if key else (1.0, 1.0)
            if key:
                out.append((Segment(key, RESPONSE, seg.round, seg.query), key_w))
            if text:
                out.append((Segment(text, RESPONSE, seg.round, seg.query), text_w))
        return out


REACT: Weights = {
    "Action:": (2.0, 2.0),
    "Action Input:": (2.0, 2.0),
    "Thought:": (1.0, 1.0),
    "Final Answer:": (1.0, 1.0),
    "Observation:": (2.0, 0.0),
}


class ReactLossScale(KeywordLossScale):
    name = "react"
    response_weights = REACT


class AlphaUmiLossScale(KeywordLossScale):
    """α-UMI's planner/caller/summarizer outputs: ReAct keywords plus the planner's ``Next:``."""

    name = "alpha_umi"
    response_weights = {**REACT, "Next:": (2.0, 2.0)}


class AgentFlanLossScale(KeywordLossScale):
    name = "agentflan"
    response_weights = {
        "Action:": (1.0, 3.0),
        "Action Input:": (1.0, 3.0),
        "Thought:": (1.0, 1.0),
        "Final Answer:": (1.0, 1.0),
        "Observation:": (2.0, 0.0),
    }
    query_weights = {
        "What is the tool you want to use": 3.0,
        "What are the required parameter names": 3.0,
        "What is the value of": 3.0,
    }


class QwenLossScale(KeywordLossScale):
    name = "qwen"
    response_weights = {
        "✿FUNCTION✿:": (2.0, 2.0),
        "✿ARGS✿:": (2.0, 2.0),
        "✿RETURN✿:": (1.0, 1.0),
        "✿RESULT✿:": (2.0, 0.0),
    }


class PatternLossScale(DefaultLossScale):
    """Answers weighted by regular expression: each span that matches one of ``patterns`` (searched as
    ms-swift does: the patterns joined, ``re.DOTALL``) gets its weight, the rest of the answer 1."""

    patterns: dict[str, float] = {}

    def weigh(self, seg: Segment, last_round: int) -> list[tuple[Segment, float]]:
        if seg.kind != RESPONSE or not seg.is_text:
            return super().weigh(seg, last_round)
        combined = re.compile("|".join(f"(?:{pattern})" for pattern in self.patterns), re.DOTALL)
        out, start = [], 0
        for match in combined.finditer(seg.content):  # type: ignore[arg-type]
            if match.end() == match.start():
                continue
            if match.start() > start:
                out.append((Segment(seg.content[start : match.start()], RESPONSE, seg.round, seg.query), 1.0))
            weight = next(w for p, w in self.patterns.items() if re.fullmatch(p, match.group(), re.DOTALL))
            out.append((Segment(match.group(), RESPONSE, seg.round, seg.query), weight))
            start = match.end()
        if start < len(seg.content):
            out.append((Segment(seg.content[start:], RESPONSE, seg.round, seg.query), 1.0))
        return out or [(seg, 1.0)]


class HermesLossScale(PatternLossScale):
    """Hermes tool calls (``<tool_call>{...}</tool_call>``) weigh twice the rest of the answer."""

    name = "hermes"
    is_binary = False
    patterns = {"<tool_call>.+?</tool_call>": 2.0}


class IgnoreEmptyThinkLossScale(PatternLossScale):
    """No loss on an empty thinking block that opens an answer (``<think>\\n\\n</think>\\n\\n``, as
    a hybrid-thinking model writes when thinking is off): training on it teaches nothing."""

    name = "ignore_empty_think"
    is_binary = True
    patterns = {
        r"^<think>\s*</think>\s*": 0.0,
        r"^<seed:think><seed:cot_budget_reflect>The current thinking budget is 0, so I will directly start "
        r"answering the question.</seed:cot_budget_reflect>\n</seed:think>\s*": 0.0,
        r"^</think>\s*": 0.0,
    }
