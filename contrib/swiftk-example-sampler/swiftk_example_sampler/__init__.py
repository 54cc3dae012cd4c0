"""swiftk-example-sampler: ``--sampler_type majority_vote``."""
