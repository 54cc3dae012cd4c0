"""Helpers of the kernel's tests: run the real `swiftk` in a subprocess, check one-line errors.

Imported by name (`from kernel_support import ...`); a plugin's test folder may have its own conftest.py,
so these helpers do not live in conftest.py, whose module name would be ambiguous in one pytest run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

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
    for var in (
        "NPROC_PER_NODE",
        "NNODES",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "LOCAL_RANK",
        "RANK",
        "WORLD_SIZE",
        "TORCHELASTIC_RUN_ID",
    ):
        env.pop(var, None)
    env.update({"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def run_swiftk(*args: str, env: Optional[dict] = None, cwd: Optional[str] = None, timeout: float = 300) -> Result:
    """Run `python -m swiftk ARGS` (the installed console script's code) and capture its output."""
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *args],
        capture_output=True,
        text=True,
        env=swiftk_env(env),
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


#: Environment of a run that loads no installed plugin: for tests whose plugin files implement the
#: built-in commands themselves (they would clash with swift-plugin-sft's `sft`).
BARE = {"SWIFTK_DISABLE_PLUGIN_AUTOLOAD": "1"}


def one_line_error(result: Result) -> str:
    """The stderr of a usage error: exactly one line starting with 'swiftk: error:'."""
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith("swiftk: error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return errors[0]
