"""The repository passes its linter and formatter (ruff, configured in pyproject.toml), and the
configuration catches what it is for: an unused import and an undefined name outside the tests, and
code not in the formatter's layout."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from kernel_support import ROOT

RUFF = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")


def ruff(*args: str, cwd: Path = ROOT, command: str = "check") -> subprocess.CompletedProcess:
    return subprocess.run([RUFF, command, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_the_repository_is_clean():
    result = ruff(".")
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_repository_is_formatted():
    result = ruff("--check", ".", command="format")
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_format_check_catches_a_layout_change():
    bad = ROOT / "kernel" / "swiftk" / "_format_probe_tmp.py"
    bad.write_text("def f( a,b ):\n    return {'a':a,  'b':b}\n")
    try:
        result = ruff("--check", str(bad.relative_to(ROOT)), command="format")
    finally:
        bad.unlink()
    assert result.returncode == 1 and "_format_probe_tmp.py" in result.stdout


def test_the_configuration_catches_unused_imports_and_undefined_names(tmp_path):
    bad = ROOT / "kernel" / "swiftk" / "_lint_probe_tmp.py"
    bad.write_text("import os\n\n\ndef f():\n    return undefined_name\n")
    try:
        result = ruff("--output-format", "concise", str(bad.relative_to(ROOT)))
    finally:
        bad.unlink()
    assert result.returncode == 1
    assert "F401" in result.stdout and "F821" in result.stdout
