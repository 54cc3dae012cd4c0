"""``--infer_backend kit_greedy`` against the engine contract suite (on swiftk/tiny-chat)."""

from __future__ import annotations

from swiftk.testing.engines import EngineContract


class TestGreedyEngine(EngineContract):
    engine = "kit_greedy"
    plugins = ("swiftk_example_kit.plugin",)
