"""Conversations, tools and helpers shared by the models plugin's tests.

Importing it also makes the run offline (no hub lookups) and keeps the remote code of tiny
checkpoints in a temporary folder.  (No conftest.py here: the kernel's tests import theirs by name.)
"""

from __future__ import annotations

import copy
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_MODULES_CACHE", tempfile.mkdtemp(prefix="swiftk-models-modules-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import swiftk  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
CHAT_TEMPLATES = DATA / "chat_templates"

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "The city"}},
                "required": ["city"],
            },
        },
    }
]
CALL = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})

SYSTEM = "Answer briefly."
USER1, ANSWER1 = "Hello, how are you?", "I am fine, thank you!"
USER2, ANSWER2 = "What is 2 + 2?", "  It is 4.  "
USER3, ANSWER3 = "And 3 + 3?", "It is 6."


def msg(role: str, content: str) -> dict:
    return {"role": role, "content": content}


#: The conversation kinds the jinja test compares; "gen" ones are encoded with the generation prompt.
CONVERSATIONS = {
    "single": ([msg("user", USER1), msg("assistant", ANSWER1)], None),
    "system": ([msg("system", SYSTEM), msg("user", USER1), msg("assistant", ANSWER1)], None),
    "multi": (
        [
            msg("system", SYSTEM),
            msg("user", USER1),
            msg("assistant", ANSWER1),
            msg("user", USER2),
            msg("assistant", ANSWER2),
            msg("user", USER3),
            msg("assistant", ANSWER3),
        ],
        None,
    ),
    "multi_nosys": (
        [
            msg("user", USER1),
            msg("assistant", ANSWER1),
            msg("user", USER2),
            msg("assistant", ANSWER2),
            msg("user", USER3),
            msg("assistant", ANSWER3),
        ],
        None,
    ),
    "gen": ([msg("system", SYSTEM), msg("user", USER1), msg("assistant", ANSWER1), msg("user", USER2)], None),
    "gen_nosys": ([msg("user", USER1), msg("assistant", ANSWER1), msg("user", USER2)], None),
    "tools": (
        [
            msg("user", "What is the weather in Paris?"),
            msg("tool_call", CALL),
            msg("tool", "Sunny, 22 degrees"),
            msg("assistant", "It is sunny and 22 degrees in Paris."),
        ],
        TOOLS,
    ),
    "tools_system": (
        [
            msg("system", SYSTEM),
            msg("user", "What is the weather in Paris?"),
            msg("tool_call", CALL),
            msg("tool", "Sunny, 22 degrees"),
            msg("assistant", "It is sunny and 22 degrees."),
        ],
        TOOLS,
    ),
    "gen_tools": ([msg("user", "What is the weather in Paris?")], TOOLS),
}
GEN_KINDS = {"gen", "gen_nosys", "gen_tools"}


def row(kind: str) -> dict:
    messages, tools = CONVERSATIONS[kind]
    out: dict = {"messages": copy.deepcopy(messages)}
    if tools:
        out["tools"] = copy.deepcopy(tools)
    return out


def answers(kind: str) -> list[str]:
    return [m["content"] for m in CONVERSATIONS[kind][0] if m["role"] == "assistant"]


def to_hf(row_: dict, template: str) -> tuple[list[dict], Optional[list]]:
    """The same conversation as transformers' apply_chat_template takes it for ``template``'s jinja."""
    out: list[dict] = []
    tools = row_.get("tools")
    for m in row_["messages"]:
        role, content = m["role"], m["content"]
        if role == "tool_call":
            call = json.loads(content)
            if template == "glm4":
                out.append(
                    {
                        "role": "assistant",
                        "metadata": call["name"],
                        "content": json.dumps(call["arguments"], ensure_ascii=False),
                    }
                )
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]})
        elif role == "tool":
            out.append({"role": "observation" if template == "glm4" else "tool", "content": content})
        else:
            out.append({"role": role, "content": content})
    if template == "glm4" and tools:
        if out[0]["role"] == "system":
            out[0]["tools"] = tools
        else:
            out.insert(0, {"role": "system", "content": "", "tools": tools})
        tools = None
    if template == "gemma3" and out[0]["role"] == "system":
        out[0]["content"] = [{"type": "text", "text": out[0]["content"]}]
    return out, tools


def official(template: str) -> str:
    return (CHAT_TEMPLATES / f"{template}.jinja").read_text(encoding="utf-8")


def model_type_of(template: str) -> str:
    """The first registered model type whose default template is ``template``."""
    for entry in swiftk.get_host().registry("models").entries():
        meta = entry.load()
        if meta.template == template:
            return meta.model_type
    raise LookupError(template)


@functools.lru_cache(maxsize=None)
def tiny_tokenizer(template: str) -> Any:
    """A tiny tokenizer with the tokens of ``template``'s family and its official chat template."""
    from swiftk.testing.tiny import build_tiny_tokenizer

    host = swiftk.get_host()
    meta = host.registry("models").get(model_type_of(template))
    tmeta = host.registry("templates").get(template)
    return build_tiny_tokenizer(meta.extra["tiny"]["tokens"], tmeta.extra.get("special_tokens", []), official(template))


def make_template(name: str, tokenizer: Any = None, **kwargs: Any) -> Any:
    """The template ``name`` as the kernel builds it, on ``tokenizer`` (default: the tiny one)."""
    from swiftk.pipelines.model import _template_engine
    from swiftk.registry import resolve_reference

    meta = swiftk.get_host().registry("templates").get(name)
    cls = resolve_reference(meta.template_cls) if meta.template_cls else _template_engine(name)
    return cls(tokenizer if tokenizer is not None else tiny_tokenizer(name), meta, **kwargs)
