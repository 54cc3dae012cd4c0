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


def warn_if_open(host: str, auth: Optional[tuple[str, str]], share: bool = False) -> Optional[str]:
    """The warning to print when the page listens beyond loopback (or gets a public `--share` link) with no
    login, else None."""
    if auth is not None or (host in LOOPBACK and not share):
        return None
    where = "through a public --share link" if share else f"on {host}"
    message = (
        f"listening {where} without authentication: anyone who reaches it can use the page; "
        f"set {AUTH_ENV}=user:password for a login form" + ("" if share else ", or pass --server_name 127.0.0.1")
    )
    logger.warning(message)
    return message


def launch(demo: Any, args: Any, **kwargs: Any) -> str:
    """Serve `demo` as the arguments say (`--server_name` per :func:`server_name`, `--server_port`, `--share`,
    the login from the environment) without blocking; returns the local URL. A port in use is a one-line
    UsageError. `--share` is left to gradio: offline it prints that no link could be made and the page stays
    local. `kwargs` go to gradio's launch (theme, css, ...); server-side rendering is off (it needs node)."""
    from swiftk.api import UsageError

    host, auth, share = server_name(args), auth_from_env(), bool(args.get("share"))
    warn_if_open(host, auth, share)
    port = int(args.get("server_port") or 7860)
    kwargs.setdefault("ssr_mode", False)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            share=share,
            auth=auth,
            prevent_thread_lock=True,
            inbrowser=False,
            **kwargs,
        )
    except OSError as exc:
        raise UsageError(f"--server_port {port}: cannot listen on {host}:{port} ({exc}); pick another port") from None
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"
