"""swift-plugin-galore: GaLore and Q-GaLore optimizers for --use_galore."""
