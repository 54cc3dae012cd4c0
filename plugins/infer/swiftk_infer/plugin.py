"""Entry point of swift-plugin-infer: registrations only."""

import swiftk
from swiftk.api import EngineSpec


@swiftk.hookimpl
def register_infer_engines(register):
    register("pt", EngineSpec(engine_cls="swiftk_infer.pt_engine:PtEngine"))


@swiftk.hookimpl
def register_commands(register):
    register("infer", "swiftk_infer.command:run_infer")
    register("deploy", "swiftk_infer.deploy:run_deploy")


@swiftk.hookimpl
def register_arguments(register):
    register("ckpt_dir", "swiftk_infer.arguments:CkptDirArguments", commands=["infer", "deploy"])
    register("deploy_limits", "swiftk_infer.arguments:DeployLimitArguments", commands=["deploy"])
    register("write_batch_size", "swiftk_infer.arguments:WriteBatchArguments", commands=["infer"])


@swiftk.hookimpl
def mswift_facade():
    """ms-swift's PtEngine, InferRequest, RequestConfig for registration files written for ms-swift."""
    from swiftk_infer.mswift import facade_names

    return facade_names()
