"""Every argument name the kernel and the plugins read exists in some argument group: a misspelt
``args.get("...")`` would otherwise be None forever (the runtime check raises only when it runs)."""

from __future__ import annotations

import re

from kernel_support import CONTRIB, ROOT
from swiftk.arguments.parser import known_argument_names

_READ = re.compile(r"""\bargs\.(?:get\(\s*|group\(\s*)?["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def test_every_argument_name_read_in_the_code_exists():
    known = known_argument_names()
    unknown = []
    for folder in (ROOT / "kernel", ROOT / "plugins", CONTRIB):
        for path in folder.rglob("*.py"):
            if "tests" in path.parts:
                continue
            for match in _READ.finditer(path.read_text(encoding="utf-8")):
                if match.group(1) not in known:
                    unknown.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
    assert not unknown
    assert {"lora_rank", "ckpt_dir", "trust_remote_code"} <= known  # plugins' groups are included
