"""swift-plugin-eval: ``swiftk eval`` and its backends (``--eval_backend``)."""
