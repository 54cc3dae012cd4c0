"""Entry point of swift-plugin-sample: registrations only, every value a lazy reference."""

import swiftk


@swiftk.hookimpl
def register_commands(register):
    register("sample", "swiftk_sample.command:run_sample")


@swiftk.hookimpl
def register_samplers(register):
    register("sample", "swiftk_sample.vanilla:RejectionSampler")
    register("mcts", "swiftk_sample.mcts:MCTSSampler")
    register("distill", "swiftk_sample.vanilla:DistillSampler")


@swiftk.hookimpl
def register_arguments(register):
    register("sample_resume", "swiftk_sample.arguments:SampleResumeArguments", commands=["sample"])
