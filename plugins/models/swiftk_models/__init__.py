"""swift-plugin-models: model types, chat templates, agent formats and loss scales.

The registration lives in :mod:`swiftk_models.plugin`; everything heavy (transformers, torch) is
imported only by :mod:`swiftk_models.template` and the format classes, when a template is used.
"""

__version__ = "0.1.0"
