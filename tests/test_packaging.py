"""Packaging proof: real wheels, a fresh venv, pip install and uninstall of a third-party plugin."""

from __future__ import annotations

import json
import subprocess
import sys
import venv

import pytest

from kernel_support import CONTRIB, ROOT, swiftk_env


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=swiftk_env(), timeout=600, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.slow
def test_wheels_install_into_a_fresh_venv_and_uninstall(tmp_path):
    dist = tmp_path / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(ROOT),
            str(CONTRIB / "swiftk-example-reward"),
        ]
    )
    wheels = sorted(p.name for p in dist.iterdir())
    assert any(w.startswith("swift_kernel-") for w in wheels), wheels
    assert any(w.startswith("swiftk_example_reward-") for w in wheels), wheels

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    _run([py, "-m", "pip", "install", "-q", "--find-links", str(dist), "swift-kernel", "swiftk-example-reward"])
    swiftk = str(env_dir / "bin" / "swiftk")

    listed = {p["name"]: p for p in json.loads(_run([swiftk, "plugins", "--json"]))}
    assert listed["example_reward"]["distribution"] == "swiftk-example-reward"
    assert listed["example_reward"]["registers"] == {"rewards": ["length_penalty"], "metrics": ["exact_match"]}
    # the metric is a valid --metric in that venv, through the installed entry point
    printed = json.loads(_run([swiftk, "sft", "--metric", "exact_match", "--print_args"]))
    assert printed["metric"] == "exact_match"
    # nothing heavy came with it: the kernel's dependencies are small
    freeze = _run([py, "-m", "pip", "freeze"]).lower()
    assert "torch" not in freeze and "transformers" not in freeze

    _run([py, "-m", "pip", "uninstall", "-y", "-q", "swiftk-example-reward"])
    listed = json.loads(_run([swiftk, "plugins", "--json"]))
    assert "example_reward" not in {p["name"] for p in listed}
    assert "length_penalty" not in json.dumps(listed)
