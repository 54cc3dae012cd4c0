"""``swiftk <command> --help``: every argument with its type, default and meaning.

🔥 parameters come first, in one block; the others follow grouped by the seed page's sections.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from typing import Iterable

from swiftk.arguments.aliases import aliases_of
from swiftk.arguments.fields import ArgInfo
from swiftk.arguments.parser import CommandParser


def _default_text(info: ArgInfo) -> str:
    value = info.default
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flag_text(info: ArgInfo) -> str:
    choices = info.valid_choices()
    if choices:
        kind = "{" + ",".join(str(c) for c in choices) + "}"
        if info.is_list:
            kind += " ..."
    elif info.is_list:
        kind = info.type_name().replace("list[", "").rstrip("]").upper() + " ..."
    else:
        kind = (info.metavar or info.type_name()).upper()
    return f"--{info.name} {kind}"


def _entries(infos: Iterable[ArgInfo], width: int, known: Iterable[str] = ()) -> list[str]:
    lines = []
    known = set(known)
    for info in infos:
        flag = _flag_text(info)
        text = (info.help or "").strip()
        extra = f"(default: {_default_text(info)}"
        if info.plugin:
            extra += f"; needs {info.plugin}"
        later = [name for name in aliases_of(info.name) if name not in known]
        if later:
            extra += "; also " + ", ".join(f"--{name}" for name in later)
        extra += ")"
        body = f"{text} {extra}".strip()
        lines.append(f"  {'🔥' if info.hot else ''}{flag}")
        lines.extend(
            textwrap.wrap(body, width=max(40, width - 8), initial_indent="        ", subsequent_indent="        ")
        )
    return lines


def format_help(parser: CommandParser, summary: str = "") -> str:
    """The help text of one command."""
    width = min(shutil.get_terminal_size((100, 20)).columns, 120)
    out = [f"Usage: swiftk {parser.command} [--config FILE] [--print_args] [--ARGUMENT VALUE ...]", ""]
    if summary:
        out += [summary, ""]
    out += [
        "Lists are space-separated (--dataset a.jsonl b.jsonl), dicts are JSON strings or JSON",
        "file paths, booleans are true/false. --config FILE.yaml|json supplies arguments (the",
        "command line wins); --print_args prints the resolved arguments as JSON and exits.",
        "",
    ]
    infos = list(parser.infos.values())
    hot = [i for i in infos if i.hot]
    if hot:
        out.append("🔥 Key arguments:")
        out += _entries(hot, width, parser.infos)
        out.append("")
    sections: dict[str, list[ArgInfo]] = {}
    for info in infos:
        if not info.hot:
            sections.setdefault(info.section, []).append(info)
    for title, members in sections.items():
        out.append(f"{title}:")
        out += _entries(members, width, parser.infos)
        out.append("")
    if parser.command in BUILTIN_ENV_COMMANDS:
        from swiftk.arguments.commands import ENV_VARS

        out.append("Environment variables:")
        for name, default, text in ENV_VARS:
            shown = f" (default: {default})" if default is not None else ""
            out.append(f"  {name}")
            out.extend(
                textwrap.wrap(
                    f"{text}{shown}", width=max(40, width - 8), initial_indent="        ", subsequent_indent="        "
                )
            )
        out.append("  Model-specific parameters: --model_kwargs JSON or environment variables (docs/cli.md).")
        out.append("")
    return "\n".join(out)


#: Commands whose help ends with the page's environment variables.
BUILTIN_ENV_COMMANDS = frozenset(
    {"sft", "pt", "rlhf", "infer", "deploy", "app", "eval", "export", "merge-lora", "sample", "rollout"}
)
