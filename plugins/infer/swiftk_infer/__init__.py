"""swift-plugin-infer: the transformers engine and the `swiftk infer` command."""
