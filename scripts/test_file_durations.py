"""Seconds per test file from a pytest JUnit XML report, written to tests/file_durations.json: `make test` starts the
longest files first (conftest.py orders them), so that no long file is left running alone at the end of a run on
two workers.

    .venv/bin/python -m pytest ... --junitxml=/tmp/report.xml
    .venv/bin/python scripts/test_file_durations.py /tmp/report.xml
"""

from __future__ import annotations

import collections
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def file_of(case: ET.Element) -> str:
    """``tests/test_x.py`` from a testcase's ``classname`` (``tests.test_x`` or ``tests.test_x.TestClass``)."""
    parts = case.get("classname", "").split(".")
    for end in range(len(parts), 0, -1):
        candidate = "/".join(parts[:end]) + ".py"
        if (ROOT / candidate).is_file():
            return candidate
    return "/".join(parts) + ".py"


def main(report: str) -> None:
    seconds: dict[str, float] = collections.defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        seconds[file_of(case)] += float(case.get("time") or 0)
    table = {name: round(value) for name, value in sorted(seconds.items(), key=lambda kv: -kv[1]) if value >= 1}
    out = ROOT / "tests" / "file_durations.json"
    out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(table)} files, {sum(table.values())} s in all; the ten longest:")
    for name, value in list(table.items())[:10]:
        print(f"  {value:6d} s  {name}")


if __name__ == "__main__":
    main(sys.argv[1])
