"""The pt engine passes the engine contract suite (swiftk.testing.engines) on the demo model."""

from __future__ import annotations

from swiftk.testing.engines import EngineContract


class TestPtEngine(EngineContract):
    engine = "pt"
    arguments = ("--max_batch_size", "4")
