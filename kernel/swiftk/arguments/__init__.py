"""Every documented command-line argument, declared as plain dataclasses.

``base/`` holds the basic groups, ``atomic/`` the building blocks (trainer, tuners, engines,
merge), ``integration/`` the per-command groups, and :mod:`swiftk.arguments.commands` maps each
command to its ordered list of groups.  Importing this package imports nothing heavy.
"""

from swiftk.arguments.fields import arg

__all__ = ["arg"]
