"""Entry point: one sampler, by lazy reference (nothing is imported until a run selects it)."""

import swiftk


@swiftk.hookimpl
def register_samplers(register):
    register("majority_vote", "swiftk_example_sampler.vote:MajorityVote")
