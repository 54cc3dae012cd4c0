"""swift-plugin-rlhf: the trainers of ``swiftk rlhf --rlhf_type dpo|orpo|simpo|kto|cpo|rm|ppo``."""
