"""Entry point of swift-plugin-lmdeploy: registrations only (lmdeploy is imported when the engine is built)."""

import swiftk
from swiftk.api import EngineSpec


@swiftk.hookimpl
def register_infer_engines(register):
    register(
        "lmdeploy",
        EngineSpec(engine_cls="swiftk_lmdeploy.engine:LmdeployEngine", requires=["lmdeploy"], needs_gpu=True),
    )
