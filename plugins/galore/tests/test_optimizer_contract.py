"""``--optimizer galore`` passes the optimizer contract suite (full training with the first block frozen)."""

from __future__ import annotations

import pytest

from swiftk.testing.optimizers import OptimizerContract

pytest.importorskip("galore_torch", reason="swift-plugin-galore needs galore-torch (requirements/cpu.txt)")

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestGalore(OptimizerContract):
    optimizer = "galore"
    arguments = ("--galore_rank", "8", "--galore_update_proj_gap", "5", "--galore_scale", "0.5")
