"""`swiftk app`: a chat page in the browser for one model, local (any backend, adapters, every deploy argument)
or remote (`--base_url`, `--api_key`).

The steps read top to bottom in :func:`run_app`: check the model (a remote server answers, a local `--model`
resolves), build and serve the page, load the model in the background, then wait: a model that fails to load
ends the command with its error; Ctrl-C closes the page and the model.
"""

from __future__ import annotations

import time
from typing import Any


def page_options(args: Any, backend: Any) -> Any:
    """The page's title, language, streaming, system prompt, generation settings, media and concurrency."""
    from swiftk_webui.app.backend import concurrency
    from swiftk_webui.app.chat import Settings
    from swiftk_webui.app.page import PageOptions

    return PageOptions(
        title=args.get("studio_title") or backend.name,
        lang=args.get("lang") or "en",
        stream=bool(args.get("stream")),
        system=args.get("system"),
        settings=Settings.from_args(args),
        kinds=backend.kinds,
        concurrency=concurrency(args),
    )


def run_app(args: Any) -> int:
    """Serve the chat page until interrupted."""
    from swiftk_webui import serving
    from swiftk_webui.app.backend import Backend

    backend = Backend(args).check()
    demo = None
    try:
        import gradio  # noqa: F401  (the import, seconds, is not the page's own time)

        started = time.perf_counter()
        from swiftk_webui.app.page import CSS, build_page, theme

        demo = build_page(backend, page_options(args, backend))
        url = serving.launch(demo, args, theme=theme(), css=CSS, quiet=True)
        backend.load()
        print(
            f"[swiftk] app: {backend.name} at {url} (page up {time.perf_counter() - started:.2f} s after "
            f"gradio's import)",
            flush=True,
        )
        backend.wait()  # the page is up; a model that cannot load ends the command here
        print(f"[swiftk] app: the model is ready ({'remote ' + args.base_url if backend.remote else 'local'})")
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        if demo is not None:
            demo.close()
        backend.close()
    return 0
