"""swift-plugin-embedding: ms-swift's ``--task_type embedding``, ``reranker`` and ``generative_reranker``."""
