#!/usr/bin/env python3
"""Extract every command-line parameter of the seed page into ``tests/data/seed_params.json``.

The seed page is ms-swift 3.x's Chinese "命令行参数" document.  Every line of the form
``- [🔥]name: description`` (ASCII or full-width colon) before the "特定模型参数" chapter is one
entry.  Each entry becomes ``{"name", "section", "default", "hot"}``:

* ``section`` is the heading chain from the ``##`` level down, joined by ``/``
  (e.g. ``基本参数/模型参数``, ``原子参数/Tuner参数/LoRA/LoRA-GA``).
* ``default`` is the JSON value of the literal that follows the first "默认" phrase
  (numbers, true/false, None -> null, quoted or back-quoted strings, ``[]``), or
  ``{"raw": "<text>"}`` when the page states no literal (derived or conditional defaults,
  or no default at all).
* ``hot`` is whether the entry is marked 🔥.

An entry repeated in the same section (the page lists ``sampler_type`` and ``sampler_engine``
twice under 采样参数) is kept once, the first time.

Usage: ``python scripts/extract_seed_params.py [SEED_PAGE] [-o OUTPUT]``; the page defaults to
``../shared/seed/000_557dd8da7867aa60.txt`` relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PAGE = REPO / ".." / "shared" / "seed" / "000_557dd8da7867aa60.txt"
DEFAULT_OUTPUT = REPO / "tests" / "data" / "seed_params.json"
STOP_HEADING = "特定模型参数"

ENTRY_RE = re.compile(r"^- (🔥)?([A-Za-z_][A-Za-z0-9_]*)\s*[:：]\s*(.*)$")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
# "默认为X", "默认值X", "默认值为 X", "默认X"; "默认等于 ..." is a derivation, handled as raw.
DEFAULT_RE = re.compile(r"默认(值为|值|为|是)?\s*")
NUMBER_RE = re.compile(r"-?\d+(?:\.\d*)?(?:[eE]-?\d+)?")
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")

# Entries whose first "默认" phrase is not their default: the page states a conditional or
# derived default, so the literal next to "默认" would be misleading.
CONDITIONAL = {
    "learning_rate",  # 全参数默认为1e-5，LoRA等tuners为1e-4
    "load_args",  # 将默认为None的`基本参数`... 推理和导出时默认为True，训练时默认为False
}


def _literal(token: str):
    """The JSON value of a literal written inside quotes or back-quotes, or bare."""
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"`":
        inner = token[1:-1]
        if token[0] == "`":
            return _literal(inner)
        return inner
    if token in ("None", "null"):
        return None
    if token in ("True", "true"):
        return True
    if token in ("False", "false"):
        return False
    if token == "[]":
        return []
    if token == "{}":
        return {}
    if NUMBER_RE.fullmatch(token):
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        return float(token)
    return token


_NO_LITERAL = object()


def parse_default(desc: str, name: str):
    """The page's default of one entry (see the module docstring)."""
    if name in CONDITIONAL:
        return {"raw": desc}
    m = DEFAULT_RE.search(desc)
    if not m:
        return {"raw": desc}
    rest = desc[m.end() :]
    value = _NO_LITERAL
    for quote in ("`", "'", '"'):
        if rest.startswith(quote):
            end = rest.find(quote, 1)
            if end > 0:
                value = _literal(rest[: end + 1])
            break
    else:
        if rest.startswith("[]"):
            value = []
        else:
            num = NUMBER_RE.match(rest)
            if num:
                text = num.group(0)
                # "默认值256." ends a sentence: the dot is punctuation, not a decimal point,
                # unless more text follows on the same clause (e.g. "默认为1.，").
                if text.endswith(".") and rest[len(text) : len(text) + 1] in ("", " "):
                    text = text[:-1]
                value = _literal(text)
            else:
                ident = IDENT_RE.match(rest)
                if ident:
                    value = _literal(ident.group(0))
    if value is _NO_LITERAL:
        return {"raw": desc}
    return value


def extract(text: str) -> list[dict]:
    entries: list[dict] = []
    seen: set[tuple[str, str]] = set()
    chain: list[tuple[int, str]] = []
    for line in text.splitlines():
        h = HEADING_RE.match(line)
        if h:
            level, title = len(h.group(1)), h.group(2)
            if level == 1:
                continue
            if title == STOP_HEADING:
                break
            chain = [c for c in chain if c[0] < level] + [(level, title)]
            continue
        m = ENTRY_RE.match(line)
        if not m or not chain:
            continue
        hot, name, desc = bool(m.group(1)), m.group(2), m.group(3).strip()
        section = "/".join(t for _, t in chain)
        if (section, name) in seen:
            continue
        seen.add((section, name))
        entries.append({"name": name, "section": section, "default": parse_default(desc, name), "hot": hot})
    return entries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", nargs="?", default=str(DEFAULT_PAGE))
    ap.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT))
    args = ap.parse_args(argv)
    entries = extract(Path(args.page).read_text(encoding="utf-8"))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(entries, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    names = {e["name"] for e in entries}
    print(f"{len(entries)} entries, {len(names)} distinct names -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
