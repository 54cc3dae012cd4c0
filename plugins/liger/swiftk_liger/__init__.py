"""swift-plugin-liger: --use_liger (CUDA only)."""
