"""`swiftk web-ui`: every command from the browser. Runs are detached processes recorded in a run registry
(runs.py), so closing the page never stops a training run and a reloaded page reattaches to it."""

from __future__ import annotations

from typing import Any


def run_web_ui(args: Any) -> int:
    """Serve the page until interrupted: on 127.0.0.1 unless --server_name is given. The page starts commands on
    this machine, so listening beyond loopback, or a --share link, needs a login (SWIFTK_WEBUI_AUTH)."""
    from swiftk.api import UsageError
    from swiftk_webui import serving
    from swiftk_webui.web_ui.page import build_page

    host = serving.server_name(args)
    auth = serving.auth_from_env()
    share = bool(args.get("share"))
    if auth is None and (share or host not in serving.LOOPBACK):
        where = "a --share link" if share else f"--server_name {host}"
        raise UsageError(
            f"{where}: the web UI runs commands on this machine, so beyond 127.0.0.1 it needs a login: set "
            f"{serving.AUTH_ENV}=user:password (read from the environment only)"
        )
    demo = build_page(args.lang)
    demo.queue().launch(
        server_name=host, server_port=args.server_port, share=share, auth=auth, inbrowser=False, ssr_mode=False
    )
    return 0


__all__ = ["run_web_ui"]
