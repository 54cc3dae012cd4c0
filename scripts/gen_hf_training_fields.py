#!/usr/bin/env python3
"""Generate ``kernel/swiftk/arguments/atomic/hf_training.py`` from the installed transformers.

The seed page's "Seq2SeqTrainer参数" group inherits transformers' ``Seq2SeqTrainingArguments``:
the fields it lists are declared by hand (with ms-swift's defaults) in
``swiftk.arguments.atomic.seq2seq`` and the other groups of the training commands; every *other*
field stays accepted.  Importing transformers at parse time is far too slow, so this script
writes those other fields, once, into a checked-in dataclass ``HfTrainingArguments``:
name, an annotation the kernel parser understands, transformers' default, and the first line of
transformers' help.  ``tests/test_hf_training_generated.py`` regenerates it into a temporary
file and compares, so a transformers upgrade that changes the fields fails loudly.

Usage: ``python scripts/gen_hf_training_fields.py [-o OUTPUT]``
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "kernel"))
DEFAULT_OUTPUT = REPO / "kernel" / "swiftk" / "arguments" / "atomic" / "hf_training.py"
MAX_HELP = 160


def declared_names() -> set[str]:
    """Names the hand-written groups of the training commands already declare."""
    from swiftk.arguments.atomic import seq2seq, tuner
    from swiftk.arguments.base import basic, data, generation, model, quantization, template
    from swiftk.arguments.integration import rlhf, train

    names: set[str] = set()
    for mod in (basic, model, data, template, generation, quantization, seq2seq, tuner, train, rlhf):
        for obj in vars(mod).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == mod.__name__:
                names.update(f.name for f in dataclasses.fields(obj))
    return names


def _members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        out = []
        for a in typing.get_args(tp):
            out.extend(_members(a))
        return out
    return [tp]


def _scalar(tp: Any) -> tuple[str, Any]:
    """(kind, detail) of one union member: kind in none/bool/int/float/str/literal/dict/list."""
    if tp is type(None):
        return "none", None
    if tp is bool:
        return "bool", None
    if tp is int:
        return "int", None
    if tp is float:
        return "float", None
    if tp is str:
        return "str", None
    origin = typing.get_origin(tp)
    if origin is Literal:
        vals = typing.get_args(tp)
        if all(isinstance(v, bool) for v in vals):
            return "bool", None
        return "literal", tuple(vals)
    if tp is dict or origin is dict:
        return "dict", None
    if tp in (list, tuple) or origin in (list, tuple):
        args = typing.get_args(tp)
        item = _scalar(args[0])[0] if args else "str"
        return "list", {"int": "int", "float": "float"}.get(item, "str")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "literal", tuple(m.value for m in tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "dict", None
    return "str", None  # Path, GenerationConfig, ...: given on the command line as a string


def annotation(tp: Any, default: Any) -> str:
    """A parser-friendly annotation (source text) for a transformers field type."""
    kinds = [_scalar(m) for m in _members(tp)]
    optional = any(k == "none" for k, _ in kinds) or default is None
    kinds = [(k, d) for k, d in kinds if k != "none"]
    names = {k for k, _ in kinds}
    if "dict" in names:
        # "dict | str": a JSON object, or a string (a file path, a name)
        core = "Union[Dict[str, Any], str]" if "str" in names else "Dict[str, Any]"
    elif "list" in names:
        item = next(d for k, d in kinds if k == "list")
        core = "str" if isinstance(default, str) else f"List[{item}]"
    elif "literal" in names:
        values: list = []
        for k, d in kinds:
            if k == "literal":
                values.extend(v for v in d if v not in values)
        core = f"Literal[{', '.join(repr(v) for v in values)}]"
    elif names == {"bool", "str"}:
        core = "Union[bool, str]"
    elif len(names) == 1:
        core = next(iter(names))
    elif names <= {"int", "float"}:
        core = "float"
    else:
        core = "str"
    return f"Optional[{core}]" if optional else core


def plain_default(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain_default(v) for v in value]
    if isinstance(value, dict):
        return {k: plain_default(v) for k, v in value.items()}
    return value


def one_line(text: str) -> str:
    text = " ".join((text or "").split())
    if len(text) > MAX_HELP:
        cut = text.find(". ")
        text = text[: cut + 1] if 0 < cut < MAX_HELP else text[: MAX_HELP - 3].rstrip() + "..."
    return text


def generated_fields() -> tuple[str, list[tuple[str, str, Any, str]]]:
    """(transformers version, [(name, annotation source, default, help)]) of the other fields."""
    import transformers
    from transformers import Seq2SeqTrainingArguments

    hints = typing.get_type_hints(Seq2SeqTrainingArguments)
    skip = declared_names()
    out = []
    for f in dataclasses.fields(Seq2SeqTrainingArguments):
        if not f.init or f.name.startswith("_") or f.name in skip:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        default = plain_default(default)
        help_text = one_line(f.metadata.get("help", ""))
        out.append((f.name, annotation(hints.get(f.name, str), default), default, help_text))
    return transformers.__version__, out


def _default_src(value: Any) -> str:
    if value == [] and isinstance(value, list):
        return "list"
    if value == {} and isinstance(value, dict):
        return "dict"
    return repr(value)


def render(version: str, fields: list[tuple[str, str, Any, str]]) -> str:
    lines = [
        '"""transformers Seq2SeqTrainingArguments fields the seed page does not list.',
        "",
        f"GENERATED by scripts/gen_hf_training_fields.py from transformers {version}; do not edit by hand.",
        "The page's \"Seq2SeqTrainer参数\" inherits Seq2SeqTrainingArguments and keeps its other fields",
        "accepted; they are declared here with transformers' defaults so that parsing never imports",
        'transformers."""',
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass",
        "from typing import Any, Dict, List, Literal, Optional, Union",
        "",
        "from swiftk.arguments.fields import arg",
        "",
        f"TRANSFORMERS_VERSION = {version!r}",
        "",
        "",
        "@dataclass",
        "class HfTrainingArguments:",
        '    """Other transformers Seq2SeqTrainingArguments fields, with transformers\' defaults."""',
        "",
        '    SECTION = "Other transformers TrainingArguments"',
        '    SECTION_ZH = "其他transformers TrainingArguments参数"',
        "",
    ]
    for name, ann, default, help_text in fields:
        if len(ann) > 80 and ann.startswith("Literal["):
            body = textwrap.wrap(ann[len("Literal[") : -1], width=92, break_long_words=False, break_on_hyphens=False)
            ann = "Literal[\n" + "\n".join("        " + b for b in body) + "]"
        lines.append(f"    {name}: {ann} = arg(")
        lines.append(f"        {_default_src(default)},")
        lines.append(f"        {help_text!r})")
    lines.append("")
    lines.append("_ = (Any, Dict, List, Literal, Optional, Union)  # all used by annotations above")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    args = ap.parse_args(argv)
    version, fields = generated_fields()
    Path(args.output).write_text(render(version, fields), encoding="utf-8")
    print(f"{len(fields)} fields from transformers {version} -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
