"""`swiftk web-ui`: every command from the browser. Runs are detached processes recorded in a run registry
(runs.py), so closing the page never stops a training run and a reloaded page reattaches to it."""

from __future__ import annotations

from typing import Any


def run_web_ui(args: Any) -> int:
    """Serve the page until interrupted: on 127.0.0.1 unless --server_name is given (then warn without auth)."""
    from swiftk_webui import serving
    from swiftk_webui.web_ui.page import build_page

    host = serving.server_name(args)
    auth = serving.auth_from_env()
    serving.warn_if_open(host, auth)
    demo = build_page(args.lang)
    demo.queue().launch(
        server_name=host, server_port=args.server_port, share=args.share, auth=auth, inbrowser=False, ssr_mode=False
    )
    return 0


__all__ = ["run_web_ui"]
