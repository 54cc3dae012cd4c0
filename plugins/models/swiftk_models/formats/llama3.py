"""Llama 3.1 / 3.3 and 3.2: a system header with the knowledge cut-off and today's date, and JSON tool calls."""

from __future__ import annotations

from typing import Optional

from swiftk_models.agent import LLAMA3_TOOLS_INTRO, llama3_call
from swiftk_models.conversation import ConversationError
from swiftk_models.encoding import CONTEXT, RESPONSE, Segment
from swiftk_models.template import Template, dumps

HEADER = "<|start_header_id|>{}<|end_header_id|>\n\n"


class Llama31Template(Template):
    """As the official template: the system turn always states ``Cutting Knowledge Date`` and
    ``Today Date`` (``TemplateMeta.extra["date_string"]``; None means today, as Llama 3.2's
    ``strftime_now`` does); tools go into the first user turn; a tool result is an ``ipython`` turn
    holding its JSON; one call per assistant turn."""

    native_agents = ("llama3",)

    def _date(self) -> str:
        return self.date_string or self.meta.extra.get("date_string") or self.today()

    def render_head(self, system: Optional[str], tools: list[dict]) -> list[Segment]:
        text = (
            self._fill("{{bos_token}}")
            + HEADER.format("system")
            + ("Environment: ipython\n" if tools else "")
            + "Cutting Knowledge Date: December 2023\n"
            + f"Today Date: {self._date()}\n\n"
            + (system or "")
            + "<|eot_id|>"
        )
        return [Segment(text, CONTEXT)]

    def render_query(self, content, rnd, *, first, system, tools, kind="user"):
        if not (first and tools):
            return super().render_query(content, rnd, first=first, system=None, tools=tools, kind=kind)
        listing = "".join(dumps(t, indent=4) + "\n\n" for t in tools)
        text = (
            HEADER.format("user")
            + LLAMA3_TOOLS_INTRO
            + listing
            + content.strip()
            + "<|eot_id|>"
            + HEADER.format("assistant")
        )
        return [Segment(text, CONTEXT, rnd, content)]

    def render_tool_results(self, results: list[str], rnd: int) -> list[Segment]:
        body = "".join(HEADER.format("ipython") + dumps(r) + "<|eot_id|>" for r in results)
        return [Segment(body + HEADER.format("assistant"), CONTEXT, rnd, "\n".join(results))]

    def render_response(self, text, calls, rnd, query, *, last, after_last_query, continuing, open_turn):
        if not calls:
            return super().render_response(
                text,
                calls,
                rnd,
                query,
                last=last,
                after_last_query=after_last_query,
                continuing=continuing,
                open_turn=open_turn,
            )
        if len(calls) != 1:
            raise ConversationError(f"{self.template_type} supports one tool call per assistant turn, got {len(calls)}")
        return [Segment(llama3_call(calls[0]), RESPONSE, rnd, query)] + self.render_end(rnd, last)
