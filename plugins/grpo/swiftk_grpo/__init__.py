"""swift-plugin-grpo: ``swiftk rlhf --rlhf_type grpo`` and the built-in reward functions."""
