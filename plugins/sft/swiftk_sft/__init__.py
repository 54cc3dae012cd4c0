"""swift-plugin-sft: the trainer behind `swiftk sft` and `swiftk pt`, and what every training run writes."""
