"""The errors the kernel raises on purpose.

A :class:`UsageError` is the user's mistake (a flag, a file, a plugin): the CLI prints its
one-line message and exits with code 2, without a traceback unless ``SWIFTK_DEBUG=1``.
"""

from __future__ import annotations


class SwiftkError(Exception):
    """Base class of every error the kernel raises deliberately."""


class UsageError(SwiftkError):
    """Bad input: the message names the argument, file or plugin and what would be valid."""

    exit_code = 2


class PluginError(UsageError):
    """A plugin could not be loaded, or registered something invalid."""


class MissingPluginError(UsageError):
    """A name is provided by a distribution that is not installed."""

    def __init__(self, message: str, distribution: str | None = None):
        super().__init__(message)
        self.distribution = distribution
