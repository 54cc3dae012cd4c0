"""swift-plugin-multimodal: vision-language model types, their templates and media handling."""
