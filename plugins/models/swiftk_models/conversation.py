"""A standard row (``messages`` + ``tools``) as a checked conversation the templates render.

Roles in rows: ``system`` (first only), ``user``, ``assistant``, ``tool_call`` (a tool call the
assistant makes: JSON ``{"name": ..., "arguments": ...}``, attached to the assistant turn before it
or making one) and ``tool`` (a tool's result; ``tool_response``, ``observation`` and ``function``
are accepted as synonyms).  Assistant turns may also carry ``tool_calls`` in the OpenAI form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

TOOL_ROLES = {"tool", "tool_response", "observation", "function", "ipython"}


class ConversationError(ValueError):
    """A row that is not a valid conversation; the message says which message and why."""


@dataclass
class Message:
    role: str  # "user", "assistant" or "tool"
    content: str = ""
    tool_calls: list[dict] = field(default_factory=list)  # [{"name": str, "arguments": dict|str}]


@dataclass
class Conversation:
    system: Optional[str]
    messages: list[Message]
    tools: list[dict] = field(default_factory=list)  # [{"type": "function", "function": {...}}]


def parse_json(value: Any) -> Any:
    """JSON text → object; other values (and text that is not JSON) unchanged."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def normalize_tools(tools: Any) -> list[dict]:
    """``tools`` as a list of ``{"type": "function", "function": {...}}`` (JSON text accepted)."""
    tools = parse_json(tools) if tools is not None else []
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        raise ConversationError(f"'tools' must be a list of tool definitions (or its JSON), got {type(tools).__name__}")
    out = []
    for tool in tools:
        tool = parse_json(tool)
        if not isinstance(tool, dict):
            raise ConversationError(f"a tool must be a JSON object, got {tool!r}")
        if "function" not in tool:
            tool = {"type": "function", "function": tool}
        out.append(tool)
    return out


def tool_name(tool: dict) -> str:
    function = tool.get("function", tool)
    return function.get("name") or function.get("name_for_model") or "tool"


def _tool_call(raw: Any, index: int) -> dict:
    call = parse_json(raw)
    if isinstance(call, dict) and "function" in call and isinstance(call["function"], dict):
        call = call["function"]
    if not isinstance(call, dict) or "name" not in call:
        raise ConversationError(f"message {index}: a tool call must be JSON with 'name' and 'arguments', got {raw!r}")
    arguments = call.get("arguments", call.get("parameters", {}))
    return {"name": call["name"], "arguments": parse_json(arguments)}


def to_conversation(row: dict, strict: bool = True) -> Conversation:
    """Check ``row`` and turn it into a :class:`Conversation` (``strict``: turns must alternate)."""
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ConversationError("the row has no 'messages' list")
    system: Optional[str] = None
    out: list[Message] = []
    for i, raw in enumerate(messages):
        if not isinstance(raw, dict) or "role" not in raw:
            raise ConversationError(f"message {i} must be an object with 'role' and 'content', got {raw!r}")
        role = raw["role"]
        content = raw.get("content")
        content = "" if content is None else content
        if not isinstance(content, str):
            raise ConversationError(f"message {i} ({role}): content must be text, got {type(content).__name__}")
        if role == "system":
            if out or system is not None:
                raise ConversationError(f"message {i}: a system message may only come first")
            system = content
        elif role == "user":
            out.append(Message("user", content))
        elif role == "assistant":
            calls = [_tool_call(c, i) for c in (raw.get("tool_calls") or [])]
            out.append(Message("assistant", content, calls))
        elif role == "tool_call":
            if out and out[-1].role == "assistant":
                out[-1].tool_calls.append(_tool_call(content, i))
            else:
                out.append(Message("assistant", "", [_tool_call(content, i)]))
        elif role in TOOL_ROLES:
            out.append(Message("tool", content))
        else:
            raise ConversationError(
                f"message {i}: unknown role {role!r} (valid: system, user, assistant, tool_call, tool)"
            )
    if strict:
        _check_order(out)
    return Conversation(system, out, normalize_tools(row.get("tools")))


def _check_order(messages: list[Message]) -> None:
    previous = None
    for i, message in enumerate(messages):
        if message.role == "assistant" and previous not in ("user", "tool"):
            raise ConversationError(f"assistant message {i} must follow a user or tool message")
        if message.role == "tool" and previous not in ("assistant", "tool"):
            raise ConversationError(f"tool message {i} must follow an assistant tool call or another tool result")
        if message.role == "user" and previous == "user":
            raise ConversationError(f"user message {i} follows another user message; merge them or add the answer")
        previous = message.role
    if messages and messages[0].role != "user":
        raise ConversationError("the conversation must start with a user message (after an optional system)")
