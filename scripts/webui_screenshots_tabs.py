"""The `swiftk web-ui` screenshots of docs/webui.md: one per tab (docs/images/webui-<tab>.png) and the runs panel
after a short demo training run (docs/images/webui-runs.png).

Called by scripts/webui_screenshots.py as ``web_ui_screenshots(shoot, out_dir)``; on its own:

    .venv/bin/python scripts/webui_screenshots_tabs.py [tabs|runs]    # needs /usr/bin/chromium and playwright
"""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
#: the demo self-cognition run, a few steps (the runs panel's picture)
DEMO_ARGV = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swift/self-cognition#64",
    "--model_name",
    "小黄",
    "Xiao Huang",
    "--model_author",
    "魔搭",
    "ModelScope",
    "--max_steps",
    "12",
    "--save_steps",
    "4",
    "--logging_steps",
    "1",
    "--per_device_train_batch_size",
    "4",
    "--split_dataset_ratio",
    "0",
    "--gradient_checkpointing",
    "false",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_ui_screenshots(shoot: Callable[..., int], out_dir: Path, tabs: bool = True, runs: bool = True) -> None:
    """Serve the page (en) in this process and shoot each tab (``tabs``), then (``runs``) the runs panel of a
    finished demo training run."""
    sys.path.insert(0, str(ROOT / "plugins" / "webui"))
    from swiftk_webui.web_ui import actions
    from swiftk_webui.web_ui.forms import TABS
    from swiftk_webui.web_ui.page import build_page
    from swiftk_webui.web_ui.runs import RunStore

    with tempfile.TemporaryDirectory() as work:
        store = RunStore(str(Path(work) / "home"))
        demo = build_page("en", store=store, cwd=work)
        port = _free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
        url = f"http://127.0.0.1:{port}/"
        try:
            for tab in TABS if tabs else ():

                def open_tab(page: Any, tab: str = tab) -> None:
                    page.locator(f"#webui-tab-{tab}-button").click()
                    page.locator(f"#webui-{tab}-launch").wait_for()
                    page.wait_for_timeout(300)

                shoot(url, out_dir / f"webui-{tab}.png", open_tab)
            if runs:
                run = actions.launch_argv(store, "sft", DEMO_ARGV, DEMO_ARGV, work)
                store.wait(run, 600)

                def runs_panel(page: Any) -> None:
                    page.locator("#webui-status textarea, #webui-status input").first.wait_for()
                    page.locator("#webui-runs-panel").scroll_into_view_if_needed()
                    page.wait_for_function(
                        "() => document.querySelector('#webui-loss g.mark-line path') !== null", timeout=30_000
                    )
                    page.set_viewport_size({"width": 1201, "height": 800})  # the plots redrawn at their final size
                    page.wait_for_timeout(300)
                    page.set_viewport_size({"width": 1200, "height": 800})
                    page.wait_for_timeout(800)

                shoot(url, out_dir / "webui-runs.png", runs_panel)
        finally:
            demo.close()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from webui_screenshots import OUT_DIR, shoot

    only = sys.argv[1:]  # "tabs" or "runs": only those
    web_ui_screenshots(shoot, OUT_DIR, tabs=not only or "tabs" in only, runs=not only or "runs" in only)
