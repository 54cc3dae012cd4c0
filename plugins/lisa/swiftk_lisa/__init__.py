"""swift-plugin-lisa: LISA layer sampling for full training."""
