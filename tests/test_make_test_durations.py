"""`make test` and `make test-fast` end with the 25 slowest tests, so a slow newcomer is seen."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kernel_support import ROOT


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("target", ["test", "test-fast"])
def test_the_test_targets_print_the_25_slowest_tests(target):
    # -n: print the recipe without running it (nor its prerequisites)
    recipe = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    pytest_lines = [line for line in recipe.splitlines() if " -m pytest " in line]
    assert pytest_lines, recipe
    assert all("--durations=25" in line.split() for line in pytest_lines), pytest_lines


def test_the_longest_files_start_first():
    """conftest.py orders files by tests/file_durations.json (scripts/test_file_durations.py writes it) and the
    Makefile keeps that order (xdist would reorder by the number of tests per file)."""
    import json

    recipe = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    assert "--no-loadscope-reorder" in recipe
    table = json.loads((ROOT / "tests" / "file_durations.json").read_text())
    assert list(table.values()) == sorted(table.values(), reverse=True) and len(table) > 50
    missing = [name for name in table if not (ROOT / name).is_file()]
    assert not missing, f"files gone since the table was written (run scripts/test_file_durations.py): {missing}"
