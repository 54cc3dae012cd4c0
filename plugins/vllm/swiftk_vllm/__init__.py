"""swift-plugin-vllm: ``--infer_backend vllm``."""
