"""A third-party evaluation backend for swift-kernel (docs/eval.md)."""
