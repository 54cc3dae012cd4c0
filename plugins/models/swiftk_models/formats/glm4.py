"""GLM-4: tools in a system block of their own, calls as ``name\\n{json}``, results as observation turns."""

from __future__ import annotations

from typing import Optional

from swiftk_models.agent import glm4_tools
from swiftk_models.encoding import CONTEXT, RESPONSE, Segment
from swiftk_models.template import Template, dumps


class Glm4Template(Template):
    """As glm-4-9b-chat's official template; an answer's content is ignored when it makes tool calls,
    and tools other than ``function`` ones (its built-in python / browser / cogview) are not listed."""

    native_agents = ("glm4",)

    def render_head(self, system: Optional[str], tools: list[dict]) -> list[Segment]:
        text = "[gMASK]<sop>"
        if tools:
            text += "<|system|>\n" + glm4_tools(tools)
        if system:
            text += "<|system|>\n" + system
        return [Segment(text, CONTEXT)]

    def render_tool_results(self, results: list[str], rnd: int) -> list[Segment]:
        body = "".join(f"<|observation|>\n{r}" for r in results)
        return [Segment(body + "<|assistant|>", CONTEXT, rnd, "\n".join(results))]

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
        segs = []
        for k, call in enumerate(calls):
            if k:
                segs.append(Segment("<|assistant|>", CONTEXT, rnd, query))
            segs.append(Segment(f"{call['name']}\n{dumps(call['arguments'])}", RESPONSE, rnd, query))
        return segs + self.render_end(rnd, last)
