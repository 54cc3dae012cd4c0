"""swift-plugin-webui: `swiftk app` and `swiftk web-ui` built with gradio."""
