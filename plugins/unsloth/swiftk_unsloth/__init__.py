"""swift-plugin-unsloth: --tuner_backend unsloth (CUDA only)."""
