"""swift-plugin-datasets: ms-swift's dataset arguments for swift-kernel.

``--dataset`` / ``--val_dataset`` values (local files and folders, registered names, hub ids)
become ``datasets.Dataset`` objects of standard ``messages`` rows; bad rows are dropped with a
summary or, with ``--strict true``, stop the run naming the file and line.  The kernel reaches
this package through the ``load_datasets`` and ``encode_dataset`` hooks (plugin.py).
"""

__version__ = "0.1.0"
