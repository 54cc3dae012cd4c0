"""Entry point of swift-plugin-vllm: registrations only (vllm is imported when the engine is built)."""

import swiftk
from swiftk.api import EngineSpec


@swiftk.hookimpl
def register_infer_engines(register):
    register("vllm", EngineSpec(engine_cls="swiftk_vllm.engine:VllmEngine", requires=["vllm"]))


@swiftk.hookimpl
def register_arguments(register):
    register(
        "vllm_data_parallel_size",
        "swiftk_vllm.arguments:VllmDataParallelArguments",
        commands=["infer", "deploy", "app", "eval", "sample", "rollout"],
    )
    register("rollout", "swiftk_vllm.arguments:RolloutArguments", commands=["rollout"])


@swiftk.hookimpl
def register_commands(register):
    register("rollout", "swiftk_vllm.rollout:run_rollout")
