"""`swiftk --help`, `swiftk sft --help` and `swiftk plugins` never import torch or transformers.
(The times are printed by benchmarks/cli_startup.py; tests do not assert timings.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel_support import swiftk_env

PROBE = """
import sys
from swiftk.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "transformers", "datasets", "peft", "trl", "numpy") if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["sft", "--help"], ["rlhf", "--help"], ["plugins"], ["plugins", "--json"], ["infer", "--print_args"]],
)
def test_light_paths_import_nothing_heavy(argv):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, env=swiftk_env()
    )
    assert "HEAVY=\n" in proc.stderr, proc.stderr
