"""swift-plugin-sample: ``swiftk sample`` (rejection sampling and MCTS)."""
