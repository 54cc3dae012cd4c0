"""swift-plugin-peft: tuners built on peft (LoRA, DoRA, rsLoRA, ...)."""
