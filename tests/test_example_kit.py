"""contrib/swiftk-example-kit, a third-party-style distribution written from docs/ alone, registers a model
type, template, dataset, tuner, loss, metric, reward, optimizer, callback and inference engine, and each
passes its contract suite: the kit's own test suite, run here in a subprocess with the kit importable
(not installed: its suites register it through ``plugins = ("swiftk_example_kit.plugin",)``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from kernel_support import CONTRIB, run_swiftk, swiftk_env

KIT = CONTRIB / "swiftk-example-kit"

EXPECTED = {
    "models": ["kit_llama"],
    "templates": ["kit_chat"],
    "datasets": ["kit/arith"],
    "tuners": ["kit_bias"],
    "losses": ["kit_smooth"],
    "metrics": ["kit_len_ratio"],
    "rewards": ["kit_brevity"],
    "optimizers": ["kit_sgd"],
    "callbacks": ["kit_step_counter"],
    "infer_engines": ["kit_greedy"],
    "arguments": ["example_kit"],
}


def _installed_site(folder) -> str:
    """A folder for PYTHONPATH that makes the kit look pip-installed: its dist-info with the entry point."""
    info = folder / "swiftk_example_kit-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: swiftk-example-kit\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[swiftk]\nexample_kit = swiftk_example_kit.plugin\n")
    return str(folder)


def test_swiftk_plugins_lists_the_ten_registrations_from_the_entry_point(tmp_path):
    site = _installed_site(tmp_path / "site")
    result = run_swiftk("plugins", "--json", env={"PYTHONPATH": os.pathsep.join([site, str(KIT)])})
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    kit = listed["example_kit"]
    assert kit["distribution"] == "swiftk-example-kit"
    assert kit["registers"] == EXPECTED


def test_swiftk_plugins_lists_the_kit_given_as_a_plugin_file():
    plugin = KIT / "swiftk_example_kit" / "plugin.py"
    result = run_swiftk("plugins", "--json", "--external_plugins", str(plugin), env={"PYTHONPATH": str(KIT)})
    assert result.returncode == 0, result.stderr
    listed = {p["name"]: p for p in json.loads(result.stdout)}
    assert listed[str(plugin)]["registers"] == EXPECTED


@pytest.mark.slow
def test_the_kit_passes_its_contract_suites():
    env = swiftk_env({"PYTHONPATH": str(KIT), "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-rfEs", str(KIT / "tests")],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(KIT),
        timeout=900,
    )
    tail = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))
    assert passed >= 80 and "failed" not in summary and "error" not in summary, tail
    # every contract suite ran on one of the kit's names
    for suite in (
        "TestKitLlama",
        "TestKitChatTemplate",
        "TestArithDataset",
        "TestKitBias",
        "TestSmoothLoss",
        "TestLenRatioMetric",
        "TestBrevityReward",
        "TestKitSGD",
        "TestStepCounter",
        "TestGreedyEngine",
    ):
        assert f"::{suite}::" in proc.stdout, suite
