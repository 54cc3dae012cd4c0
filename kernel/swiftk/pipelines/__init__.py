"""The pipelines behind the commands: each reads top to bottom and calls registries and hooks.

- :mod:`swiftk.pipelines.model`: ``--model`` → model folder, model_type, ModelMeta → loaded model,
  processor and the chat template that encodes conversations.
- :mod:`swiftk.pipelines.data`: ``--dataset``/``--val_dataset`` → standard ``messages`` rows (asked of the
  plugin answering the ``load_datasets``/``encode_dataset`` hooks).
- :mod:`swiftk.pipelines.train`: ``sft``, ``pt`` and ``rlhf``, one recipe driven by the trainer's spec.
- :mod:`swiftk.pipelines.export`: ``export`` and ``merge-lora``.

They import torch, transformers and datasets lazily, inside the functions that need them.
"""
