"""Qwen2.5, QwQ and Qwen3: ChatML with Hermes-style tool calling, as their official templates write it."""

from __future__ import annotations

from typing import Optional

from swiftk_models.agent import hermes_call, hermes_tools
from swiftk_models.encoding import CONTEXT, RESPONSE, Segment
from swiftk_models.template import Template


class HermesTemplate(Template):
    """Tools go into the system turn (``# Tools`` ... ``<tools>``), calls are ``<tool_call>`` JSON in
    the assistant turn, consecutive results form one user turn of ``<tool_response>`` blocks.

    ``TemplateMeta.extra["tools_system"]`` says what precedes the tool block: ``default_or_system``
    (Qwen2.5: the system or its default), ``system_or_empty`` (QwQ), ``system_if_any`` (Qwen3).
    """

    native_agents = ("hermes",)

    def render_head(self, system: Optional[str], tools: list[dict]) -> list[Segment]:
        if not tools:
            return super().render_head(system, tools)
        style = self.meta.extra.get("tools_system", "default_or_system")
        if style == "system_if_any":
            head = f"{system}\n\n" if system else ""
        else:
            head = (system or "") + "\n\n"
        return [Segment("<|im_start|>system\n" + head + hermes_tools(tools) + "<|im_end|>\n", CONTEXT)]

    def render_tool_results(self, results: list[str], rnd: int) -> list[Segment]:
        body = "".join(f"\n<tool_response>\n{r}\n</tool_response>" for r in results)
        return [Segment(f"<|im_start|>user{body}<|im_end|>\n<|im_start|>assistant\n", CONTEXT, rnd, "\n".join(results))]

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
        if not last:
            text = self._drop_history_think(text)
        body = text + "".join(("\n" if (k or text) else "") + hermes_call(c) for k, c in enumerate(calls))
        return [Segment(body, RESPONSE, rnd, query)] + self.render_end(rnd, last)


class Qwen3Template(HermesTemplate):
    """Qwen3 adds reasoning: answers after the last user query carry a ``<think>`` block (empty when the
    data has none, as the official template writes for the final answer); earlier answers lose theirs."""

    def render_response(self, text, calls, rnd, query, *, last, after_last_query, continuing, open_turn):
        reasoning = ""
        if "</think>" in text:
            reasoning = text.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
            text = text.split("</think>")[-1].lstrip("\n")
        body = text
        if after_last_query and (last or reasoning) and not continuing:
            body = "<think>\n" + reasoning.strip("\n") + "\n</think>\n\n" + text.lstrip("\n")
        body += "".join(("\n" if (k or text) else "") + hermes_call(c) for k, c in enumerate(calls))
        return [Segment(body, RESPONSE, rnd, query)] + ([] if open_turn else self.render_end(rnd, last))

    def render_generation(self) -> list[Segment]:
        empty_think = "<think>\n\n</think>\n\n" if self.enable_thinking is False else ""
        return [Segment((self.meta.response_prefix or "") + empty_think, CONTEXT)]
