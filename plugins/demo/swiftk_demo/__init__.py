"""swift-plugin-demo: the demo chat model ``swiftk/tiny-chat``, shipped in the package."""

import os

#: The folder holding the model (config, tokenizer, safetensors).
MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-chat")
