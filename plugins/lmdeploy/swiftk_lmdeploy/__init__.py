"""swift-plugin-lmdeploy: ``--infer_backend lmdeploy``."""
