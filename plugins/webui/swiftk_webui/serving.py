"""Where a gradio page listens, who may open it, and launching it: shared by `swiftk app` and `swiftk web-ui`.

The page's default `--server_name` is 0.0.0.0; a page that can start training runs or answer with a model should
not be open to the network by surprise, so without an explicit `--server_name` it listens on 127.0.0.1 only
(`--server_name 0.0.0.0` restores ms-swift's behaviour). Listening beyond loopback without gradio's `auth` warns.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

logger = logging.getLogger("swiftk.webui")

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
#: "user:password" for gradio's login form; read from the environment only, never written or printed
AUTH_ENV = "SWIFTK_WEBUI_AUTH"


def server_name(args: Any) -> str:
    """The address to listen on: `--server_name` when the user gave it, else loopback."""
    explicit = getattr(args, "explicit", set()) or set()
    if "server_name" in explicit and args.get("server_name"):
        return str(args.get("server_name"))
    return "127.0.0.1"


def auth_from_env() -> Optional[tuple[str, str]]:
    """gradio's `auth` pair from SWIFTK_WEBUI_AUTH ("user:password"), or None."""
    value = os.environ.get(AUTH_ENV, "")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        from swiftk.api import UsageError

        raise UsageError(f"{AUTH_ENV} must be 'user:password' (the value is not shown)")
    return user, password


def warn_if_open(host: str, auth: Optional[tuple[str, str]]) -> Optional[str]:
    """The warning to print when the page listens beyond loopback with no login, else None."""
    if host in LOOPBACK or auth is not None:
        return None
    message = (
        f"listening on {host} without authentication: anyone who reaches this machine can use the page; "
        f"set {AUTH_ENV}=user:password for a login form, or pass --server_name 127.0.0.1"
    )
    logger.warning(message)
    return message
