"""Shared fixtures: run the real `swiftk` in a subprocess, and make real installed distributions
(a dist-info folder with an entry point on PYTHONPATH) without a pip round-trip."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONTRIB = ROOT / "contrib"
TEST_PLUGINS = Path(__file__).resolve().parent / "plugins"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def swiftk_env(extra: Optional[dict] = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWIFTK_")}
    for var in ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK",
                "RANK", "WORLD_SIZE", "TORCHELASTIC_RUN_ID"):
        env.pop(var, None)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def run_swiftk(*args: str, env: Optional[dict] = None, cwd: Optional[str] = None, timeout: float = 300) -> Result:
    """Run `python -m swiftk ARGS` (the installed console script's code) and capture its output."""
    proc = subprocess.run([sys.executable, "-m", "swiftk", *args], capture_output=True, text=True,
                          env=swiftk_env(env), cwd=cwd, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


#: Environment of a run that loads no installed plugin: for tests whose plugin files implement the
#: built-in commands themselves (they would clash with swift-plugin-sft's `sft`).
BARE = {"SWIFTK_DISABLE_PLUGIN_AUTOLOAD": "1"}


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


def one_line_error(result: Result) -> str:
    """The stderr of a usage error: exactly one line starting with 'swiftk: error:'."""
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("swiftk: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return errors[0]
