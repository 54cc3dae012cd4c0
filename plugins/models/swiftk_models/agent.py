"""Agent templates (``--tools_prompt``): how tools, tool calls and tool results become text.

A template renders tool use natively when its official format is the chosen agent template
(Qwen2.5/Qwen3 with ``hermes``, Llama 3.1/3.2 with ``llama3``, GLM-4 with ``glm4``); any other
pairing goes through the methods here, which put the tool list into the system prompt, write the
assistant's calls as text and turn results into a turn of their own (or, for ReAct formats, into an
``Observation:`` inside the assistant turn, which is not trained).  ``parse_tool_calls`` reads calls
back out of generated text for the inference engines.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

from swiftk_models.conversation import parse_json, tool_name


def _json(obj: Any, indent: Optional[int] = None) -> str:
    return obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, indent=indent)


def _join(system: Optional[str], text: str) -> str:
    return f"{system}\n\n{text}" if system else text


class AgentTemplate:
    """The interface; subclasses set ``name`` and override what their format does differently."""

    name = "base"
    inline_results = False  # results continue the assistant turn (ReAct "Observation:")
    observation = "Observation:"

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        raise NotImplementedError

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        raise NotImplementedError

    def format_tool_results(self, results: list[str]) -> str:
        return "\n".join(results)

    def format_inline_results(self, results: list[str]) -> str:
        return "".join((f"{self.observation} " if i else " ") + r.rstrip("\n") + "\n" for i, r in enumerate(results))

    def close_for_results(self, text: str) -> str:
        """Make an assistant turn that precedes inline results end with the observation keyword."""
        if text.rstrip().endswith(self.observation):
            return text
        return (text if text.endswith("\n") or not text else text + "\n") + self.observation

    def parse_tool_calls(self, text: str) -> list[dict]:
        raise NotImplementedError


class ReactEn(AgentTemplate):
    """ReAct (Thought / Action / Action Input / Observation), English instructions."""

    name = "react_en"
    inline_results = True
    head = "Answer the following questions as best you can. You have access to the following tools:"
    body = (
        "Use the following format:\n\n"
        "Question: the input question you must answer\n"
        "Thought: you should always think about what to do\n"
        "Action: the action to take, should be one of [{names}]\n"
        "Action Input: the input to the action\n"
        "Observation: the result of the action\n"
        "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
        "Thought: I now know the final answer\n"
        "Final Answer: the final answer to the original input question\n\n"
        "Begin!"
    )

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        listing = "\n\n".join(_json(t) for t in tools)
        names = ",".join(tool_name(t) for t in tools)
        return _join(system, f"{self.head}\n\n{listing}\n\n" + self.body.format(names=names))

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        text = content + ("\n" if content and not content.endswith("\n") else "")
        for call in calls:
            text += f"Action: {call['name']}\nAction Input: {_json(call['arguments'])}\n"
        return text + self.observation

    def parse_tool_calls(self, text: str) -> list[dict]:
        calls = []
        for name, args in re.findall(
            r"Action:\s*(.+?)\s*\nAction Input:\s*(.+?)\s*(?=\nObservation:|\nThought:|\nAction:|$)", text, flags=re.S
        ):
            calls.append({"name": name.strip(), "arguments": parse_json(args.strip())})
        return calls


class ReactZh(ReactEn):
    """ReAct with Chinese instructions (same keywords, so the same parser and loss scale)."""

    name = "react_zh"
    head = "尽你所能回答以下问题。你拥有如下工具："
    body = (
        "以下格式回答：\n\n"
        "Thought: 思考你应该做什么\n"
        "Action: 工具的名称，必须是[{names}]之一\n"
        "Action Input: 工具的输入\n"
        "Observation: 工具返回的结果\n"
        "... (Thought/Action/Action Input/Observation的过程可以重复零次或多次)\n"
        "Thought: 我现在知道了最终答案\n"
        "Final Answer: 原始输入问题的最终答案\n\n"
        "开始！"
    )


class ToolBench(ReactEn):
    """ToolBench's AutoGPT-style format: ReAct keywords, results as separate turns."""

    name = "toolbench"
    inline_results = False

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        apis = json.dumps([t.get("function", t) for t in tools], ensure_ascii=False)
        return (
            "You are AutoGPT, you can use many tools (functions) to do the following task.\n"
            "At each step, give your thought about the current state and what to do next, with a function "
            "call to actually execute the step, in this format:\nThought:\nAction:\nAction Input:\n\n"
            "After the call you receive its result and continue; when the task is done, give your final "
            "answer.\n"
            f"Task description: {system or ''}\n"
            f"Specifically, you have access to the following APIs: {apis}"
        )

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        text = content + ("\n" if content and not content.endswith("\n") else "")
        return text + "".join(f"Action: {c['name']}\nAction Input: {_json(c['arguments'])}\n" for c in calls).rstrip(
            "\n"
        )


class QwenAgent(AgentTemplate):
    """Qwen-Agent's function-calling format (✿FUNCTION✿ / ✿ARGS✿ / ✿RESULT✿ / ✿RETURN✿)."""

    name = "qwen"
    inline_results = True
    observation = "✿RESULT✿:"

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        blocks = []
        for tool in tools:
            fn = tool.get("function", tool)
            blocks.append(
                f"### {tool_name(tool)}\n\n{tool_name(tool)}: {fn.get('description', '')} "
                f"Parameters: {_json(fn.get('parameters', {}))} Format the arguments as a JSON object."
            )
        names = ",".join(tool_name(t) for t in tools)
        text = (
            "# Tools\n\n## You have access to the following tools:\n\n"
            + "\n\n".join(blocks)
            + "\n\n## When you need to call a tool, please insert the following command in your reply, "
            "which can be called zero or multiple times according to your needs:\n\n"
            f"✿FUNCTION✿: The tool to use, should be one of [{names}]\n"
            "✿ARGS✿: The input of the tool\n✿RESULT✿: Tool results\n"
            "✿RETURN✿: Reply based on tool results. Images need to be rendered as ![](url)"
        )
        return _join(system, text)

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        text = content + ("\n" if content and not content.endswith("\n") else "")
        text += "".join(f"✿FUNCTION✿: {c['name']}\n✿ARGS✿: {_json(c['arguments'])}\n" for c in calls)
        return text + self.observation

    def parse_tool_calls(self, text: str) -> list[dict]:
        found = re.findall(
            r"✿FUNCTION✿:\s*(.+?)\s*\n✿ARGS✿:\s*(.+?)\s*(?=\n✿RESULT✿|\n✿FUNCTION✿|\n✿RETURN✿|$)", text, flags=re.S
        )
        return [{"name": n.strip(), "arguments": parse_json(a.strip())} for n, a in found]


HERMES_TOOLS_HEAD = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
HERMES_TOOLS_TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
)


def hermes_tools(tools: list[dict]) -> str:
    """The tool block of Qwen2.5/Qwen3's official template (``# Tools`` ... ``</tool_call>``)."""
    return HERMES_TOOLS_HEAD + "".join("\n" + _json(t) for t in tools) + HERMES_TOOLS_TAIL


def hermes_call(call: dict) -> str:
    return '<tool_call>\n{"name": "' + call["name"] + '", "arguments": ' + _json(call["arguments"]) + "}\n</tool_call>"


class Hermes(AgentTemplate):
    """Hermes / Qwen2.5 tool calling: ``<tool_call>`` JSON in, ``<tool_response>`` out."""

    name = "hermes"

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        return _join(system, hermes_tools(tools))

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        return "\n".join(([content] if content else []) + [hermes_call(c) for c in calls])

    def format_tool_results(self, results: list[str]) -> str:
        return "\n".join(f"<tool_response>\n{r}\n</tool_response>" for r in results)

    def parse_tool_calls(self, text: str) -> list[dict]:
        calls = []
        for body in re.findall(r"<tool_call>\s*(.*?)\s*</tool_call>", text, flags=re.S):
            obj = parse_json(body)
            if isinstance(obj, dict) and "name" in obj:
                calls.append({"name": obj["name"], "arguments": parse_json(obj.get("arguments", {}))})
        return calls


LLAMA3_TOOLS_INTRO = (
    "Given the following functions, please respond with a JSON for a function call "
    "with its proper arguments that best answers the given prompt.\n\n"
    'Respond in the format {"name": function name, "parameters": dictionary of argument name '
    'and its value}.Do not use variables.\n\n'
)


def llama3_call(call: dict) -> str:
    return '{"name": "' + call["name"] + '", "parameters": ' + _json(call["arguments"]) + "}"


class Llama3Json(AgentTemplate):
    """Llama 3.1/3.2 JSON tool calling (``{"name": ..., "parameters": ...}``)."""

    name = "llama3"

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        listing = "".join(_json(t, indent=4) + "\n\n" for t in tools)
        return LLAMA3_TOOLS_INTRO + listing + (system or "")

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        return "\n".join(([content] if content else []) + [llama3_call(c) for c in calls])

    def parse_tool_calls(self, text: str) -> list[dict]:
        whole = parse_json(text.strip())
        objs = [whole] if isinstance(whole, dict) else [parse_json(line.strip()) for line in text.splitlines()]
        return [
            {"name": o["name"], "arguments": parse_json(o.get("parameters", o.get("arguments", {})))}
            for o in objs
            if isinstance(o, dict) and "name" in o
        ]


GLM4_TOOLS_HEAD = (
    "你是一个名为 ChatGLM 的人工智能助手。你是基于智谱AI训练的语言模型 GLM-4 模型开发的，"
    "你的任务是针对用户的问题和要求提供适当的答复和支持。\n\n# 可用工具"
)


def glm4_tools(tools: list[dict]) -> str:
    """The tool block GLM-4's official template writes for ``function`` tools."""
    text = GLM4_TOOLS_HEAD
    for tool in tools:
        if tool.get("type", "function") == "function":
            fn = tool.get("function", tool)
            # One newline before "##": transformers renders chat templates with trim_blocks.
            text += f"\n## {fn['name']}\n\n{_json(fn, indent=4)}\n在调用上述函数时，请使用 Json 格式表示调用的参数。"
    return text


class Glm4(AgentTemplate):
    """GLM-4: the tool list in a system block; a call is the function name, a newline and JSON."""

    name = "glm4"

    def format_system(self, tools: list[dict], system: Optional[str]) -> str:
        return glm4_tools(tools) + (f"\n\n{system}" if system else "")

    def format_tool_calls(self, calls: list[dict], content: str = "") -> str:
        return "\n".join(([content] if content else []) + [f"{c['name']}\n{_json(c['arguments'])}" for c in calls])

    def parse_tool_calls(self, text: str) -> list[dict]:
        name, _, rest = text.strip().partition("\n")
        args = parse_json(rest.strip())
        return [{"name": name.strip(), "arguments": args}] if name and isinstance(args, dict) else []
