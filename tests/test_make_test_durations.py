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
