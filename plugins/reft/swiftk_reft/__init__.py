"""swift-plugin-reft: --train_type reft (representation fine-tuning)."""
