"""A third-party quantizer for swift-kernel, written against docs/plugins.md (register_quantizers)."""
