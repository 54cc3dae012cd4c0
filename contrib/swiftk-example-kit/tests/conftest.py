"""Make the kit importable when it is not pip-installed (``pytest contrib/swiftk-example-kit/tests``):
the contract suites register it from ``plugins = (PLUGIN,)``, in this process and in the processes
they start (the tuner suite reloads checkpoints in a fresh one), so the folder goes on ``PYTHONPATH`` too."""

from __future__ import annotations

import os
import sys

KIT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

if KIT_ROOT not in sys.path:
    sys.path.insert(0, KIT_ROOT)
_paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
if KIT_ROOT not in _paths:
    os.environ["PYTHONPATH"] = os.pathsep.join([KIT_ROOT, *[p for p in _paths if p]])
