"""swiftk-example-kit: a third-party-style swiftk plugin written from docs/plugins.md.

It registers one name of every kind a training or inference run takes from plugins: the model type
``kit_llama``, the template ``kit_chat``, the dataset ``kit/arith``, the tuner ``kit_bias``, the loss
``kit_smooth``, the metric ``kit_len_ratio``, the reward ``kit_brevity``, the optimizer ``kit_sgd``, the
callback ``kit_step_counter`` and the inference engine ``kit_greedy`` (see ``plugin.py``, the entry point).
"""

__version__ = "0.1.0"
