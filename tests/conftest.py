"""Fixtures of the kernel's tests (helpers live in kernel_support.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Optional

import pytest

from kernel_support import BARE, run_swiftk


@pytest.fixture
def swiftk():
    return run_swiftk


@pytest.fixture
def bare_swiftk():
    """`swiftk` with installed plugins disabled (extra env is merged in)."""

    def _run(*args: str, env: Optional[dict] = None, **kw):
        return run_swiftk(*args, env={**BARE, **(env or {})}, **kw)

    return _run


@pytest.fixture
def make_dist(tmp_path):
    """make_dist(dist_name, entry_point_name, module_name, code) -> a folder for PYTHONPATH holding
    an installed-looking distribution whose `swiftk` entry point is that module."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)

    def _make(dist: str, ep: str, module: str, code: str, version: str = "1.0") -> Path:
        (site / f"{module}.py").write_text(textwrap.dedent(code))
        info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[swiftk]\n{ep} = {module}\n")
        return site

    return _make
