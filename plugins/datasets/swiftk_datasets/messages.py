"""Message lists: every spelling of a conversation becomes ``[{"role", "content"}, ...]`` and is checked.

Accepted spellings: OpenAI messages (``role``/``content``, ``tool_calls``, content parts),
ShareGPT (``from``/``value`` with human/gpt/system/observation/function_call), and the older
ShareGPT pairs (``[{"human": ..., "assistant": ...}]``).  Standard roles are ``system``, ``user``,
``assistant``, ``tool`` (a tool's result) and ``tool_call`` (ms-swift's agent format: a call as a
JSON string ``{"name", "arguments"}``).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from swiftk_datasets.errors import BadRow

STANDARD_ROLES = ("system", "user", "assistant", "tool", "tool_call")

#: Role aliases of the formats in the wild (ms-swift, ShareGPT, LLaMA-Factory, OpenAI legacy).
DEFAULT_ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "tool": "tool",
    "observation": "tool",
    "observations": "tool",
    "tool_response": "tool",
    "function_response": "tool",
    "function": "tool",
    "ipython": "tool",
    "tool_call": "tool_call",
    "function_call": "tool_call",
}

_USER_SIDE = ("user", "tool")
_ASSISTANT_SIDE = ("assistant", "tool_call")


@dataclass(frozen=True)
class MessageStyle:
    """How a dataset spells its messages (dataset_info.json's ``messages`` block may override it)."""

    role_keys: tuple[str, ...] = ("role", "from")
    content_keys: tuple[str, ...] = ("content", "value")
    aliases: dict = field(default_factory=lambda: dict(DEFAULT_ROLE_ALIASES))

    @classmethod
    def from_options(cls, options: Optional[dict]) -> "MessageStyle":
        """ms-swift's MessagesPreprocessor arguments: role_key, content_key, user_role,
        assistant_role, system_role, tool_role (and tool_call_role, tool_response_role)."""
        if not options:
            return cls()
        style = cls()
        aliases = dict(style.aliases)
        for key, role in (
            ("user_role", "user"),
            ("assistant_role", "assistant"),
            ("system_role", "system"),
            ("tool_role", "tool"),
            ("tool_response_role", "tool"),
            ("tool_call_role", "tool_call"),
        ):
            if options.get(key):
                aliases[str(options[key])] = role
        role_keys = (options["role_key"],) if options.get("role_key") else style.role_keys
        content_keys = (options["content_key"],) if options.get("content_key") else style.content_keys
        return cls(tuple(role_keys), tuple(content_keys), aliases)

    def __hash__(self) -> int:  # dataclass(frozen) with a dict field
        return hash((self.role_keys, self.content_keys, tuple(sorted(self.aliases.items()))))


def parse_structured(value: Any, column: str, what: str = "a list of messages") -> Any:
    """A value that may arrive as a JSON (or Python literal) string, as in CSV files."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        raise BadRow("empty", f"is an empty string, not {what}", column)
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BadRow("bad type", f"is a string that is not {what} (not valid JSON)", column) from None


def _text(content: Any, column: str, index: int) -> Optional[str]:
    """Message content as text: strings, numbers, and OpenAI text parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, bool):
        raise BadRow("bad type", f"messages[{index}] content is a boolean, not text", column)
    if isinstance(content, (int, float)):
        return str(content)
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("type", "text") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise BadRow(
                    "bad content",
                    f"messages[{index}] has a content part of type '{kind}'; only text "
                    f"parts are read (put media in the images/videos/audios columns "
                    f"with <image>/<video>/<audio> tags)",
                    column,
                )
        return "".join(texts)
    raise BadRow("bad type", f"messages[{index}] content is a {type(content).__name__}, not text", column)


def _tool_call_text(call: Any, column: str, index: int) -> str:
    """An OpenAI tool call as ms-swift's tool_call content: ``{"name": ..., "arguments": ...}``."""
    if not isinstance(call, dict):
        raise BadRow("bad tool call", f"messages[{index}] has a tool call that is not an object", column)
    function = call.get("function") if isinstance(call.get("function"), dict) else call
    name = function.get("name")
    if not name:
        raise BadRow("bad tool call", f"messages[{index}] has a tool call without a function name", column)
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass
    return json.dumps({"name": name, "arguments": arguments if arguments is not None else {}}, ensure_ascii=False)


def _pairs_to_messages(items: list, column: str, style: MessageStyle) -> list[dict]:
    """Old ShareGPT: ``[{"human": q, "assistant": a}, ...]``."""
    out = []
    for i, item in enumerate(items):
        turn = {style.aliases.get(k, k): v for k, v in item.items() if v is not None}
        if "user" not in turn and "tool" not in turn:
            raise BadRow(
                "bad message",
                f"messages[{i}] has neither a role key nor a user/human key (keys: {', '.join(map(str, item))})",
                column,
            )
        if "tool" in turn:
            out.append({"role": "tool", "content": _text(turn["tool"], column, i)})
        else:
            out.append({"role": "user", "content": _text(turn["user"], column, i)})
        if "assistant" in turn:
            out.append({"role": "assistant", "content": _text(turn["assistant"], column, i)})
    return out


def normalize_messages(value: Any, column: str, style: MessageStyle = MessageStyle()) -> list[dict]:
    """Any accepted spelling of a conversation as standard ``{"role", "content"}`` messages."""
    value = parse_structured(value, column)
    if not isinstance(value, (list, tuple)):
        raise BadRow("bad type", f"is a {type(value).__name__}, not a list of messages", column)
    if not value:
        raise BadRow("empty", "is an empty list", column)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise BadRow(
                "bad message", f"messages[{i}] is a {type(item).__name__}, not an object with role and content", column
            )
    first = value[0]
    if not any(first.get(k) is not None for k in style.role_keys):
        return _pairs_to_messages(list(value), column, style)
    out: list[dict] = []
    for i, item in enumerate(value):
        role = next((item[k] for k in style.role_keys if item.get(k) is not None), None)
        if role is None:
            raise BadRow("bad message", f"messages[{i}] has no role (looked for {', '.join(style.role_keys)})", column)
        std = style.aliases.get(role) if isinstance(role, str) else None
        if std is None:
            raise BadRow(
                "bad role",
                f"role '{role}' of messages[{i}] is not one of {', '.join(STANDARD_ROLES)} "
                f"(or an alias such as human, gpt, observation, function_call)",
                column,
            )
        content = next((item[k] for k in style.content_keys if k in item and item[k] is not None), None)
        content = _text(content, column, i)
        calls = item.get("tool_calls")
        if std == "assistant" and calls:
            if content:
                out.append({"role": "assistant", "content": content})
            if not isinstance(calls, (list, tuple)):
                calls = [calls]
            out.extend({"role": "tool_call", "content": _tool_call_text(c, column, i)} for c in calls)
            continue
        if std == "tool_call" and isinstance(content, str):
            content = _normalize_call_string(content)
        out.append({"role": std, "content": content})
    return out


def _normalize_call_string(content: str) -> str:
    """ShareGPT function_call values are JSON already; keep them, re-dumped compactly when they parse."""
    try:
        parsed = json.loads(content)
    except ValueError:
        return content
    return json.dumps(parsed, ensure_ascii=False) if isinstance(parsed, dict) else content


def check_messages(messages: list[dict], column: str, *, need_response: bool) -> None:
    """The order and content rules a template relies on; the first violation is a BadRow."""
    start = 0
    if messages and messages[0]["role"] == "system":
        start = 1
        if not isinstance(messages[0]["content"], str):
            raise BadRow("empty content", "messages[0] (system) has no content", column)
    body = messages[start:]
    if not body:
        raise BadRow("no conversation", "has only a system message", column)
    prev = None
    for i, msg in enumerate(body, start):
        role, content = msg["role"], msg["content"]
        if role == "system":
            raise BadRow("bad order", f"messages[{i}] is a system message; only the first message may be one", column)
        if role in _ASSISTANT_SIDE and (content is None or content == ""):
            raise BadRow("empty response", f"messages[{i}] ({role}) is empty", column)
        if content is None:
            raise BadRow("empty content", f"messages[{i}] ({role}) has no content", column)
        if prev is None:
            if role != "user" and not (role == "assistant" and len(body) == 1):
                raise BadRow(
                    "bad order",
                    f"the conversation starts with '{role}' (messages[{i}]); it must start with a user message",
                    column,
                )
        elif role == prev and role in ("user", "assistant"):
            raise BadRow(
                "bad order",
                f"messages[{i - 1}] and messages[{i}] are both '{role}'; user and assistant turns must alternate",
                column,
            )
        elif role == "tool" and prev not in ("tool_call", "tool"):
            raise BadRow("bad order", f"messages[{i}] is a tool result that follows '{prev}', not a tool_call", column)
        prev = role
    if need_response and prev not in _ASSISTANT_SIDE:
        raise BadRow(
            "no response",
            f"the conversation ends with a '{prev}' message, so there is no assistant response to train on",
            column,
        )
