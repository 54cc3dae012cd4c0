"""Screenshots of the web pages for docs/webui.md, taken from the real commands in headless chromium.

    .venv/bin/python scripts/webui_screenshots.py            # docs/images/webui-app.png (+ the web-ui tabs)

`swiftk app` runs on the demo model (swiftk/tiny-chat) with one question answered.  The `swiftk web-ui` tabs come
from scripts/webui_screenshots_tabs.py when it is there: its ``web_ui_screenshots(shoot, out_dir)`` is called
with :func:`shoot` below, the one helper every page uses (chromium, 1200x800, PNG kept under MAX_BYTES).
Needs /usr/bin/chromium and playwright (pip install 'swift-plugin-webui[test]').
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "docs" / "images"
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1200, "height": 800}
#: a screenshot larger than this is reduced to a 256-colour palette (docs stay light)
MAX_BYTES = 150_000


def save_small(png: bytes, path: Path) -> int:
    """Write `png` to `path` (atomically), as a 256-colour PNG when it is over MAX_BYTES; returns its size."""
    if len(png) > MAX_BYTES:
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        png = buffer.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(png)
    os.replace(tmp, path)
    return len(png)


def shoot(url: str, path: Path, prepare: Optional[Callable[[Any], None]] = None, full_page: bool = False) -> int:
    """Open `url` in headless chromium (1200x800), run `prepare(page)` (click a tab, wait for text, ...), and save
    the screenshot to `path` (kept under MAX_BYTES); returns its size in bytes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url)
            if prepare is not None:
                prepare(page)
            size = save_small(page.screenshot(full_page=full_page), path)
        finally:
            browser.close()
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {size // 1024} KB", flush=True)
    return size


def app_screenshot(out_dir: Path = OUT_DIR) -> int:
    """docs/images/webui-app.png: `swiftk app` on the demo model, one question answered."""
    sys.path.insert(0, str(ROOT / "plugins" / "webui"))
    from swiftk_webui.app.testing import AppProcess

    def chat(page: Any) -> None:
        page.locator("#app-status", has_text="Ready").wait_for(timeout=120_000)
        box = page.locator("#app-input textarea")
        box.fill("Who are you?")
        box.press("Enter")
        page.locator("#app-chatbot [data-testid='bot']").last.get_by_text("help you?").wait_for(timeout=60_000)
        page.locator("#app-settings").click()  # the settings unfolded: the page's parts in one picture
        page.wait_for_timeout(300)

    args = ["--model", "swiftk/tiny-chat", "--stream", "true", "--temperature", "0", "--verbose", "false"]
    with AppProcess(args, env={"OMP_NUM_THREADS": "1"}) as app:
        return shoot(app.url, out_dir / "webui-app.png", chat, full_page=True)


def tab_screenshots(out_dir: Path = OUT_DIR) -> None:
    """The `swiftk web-ui` tabs, by scripts/webui_screenshots_tabs.py's web_ui_screenshots(shoot, out_dir)."""
    tabs = Path(__file__).with_name("webui_screenshots_tabs.py")
    if not tabs.exists():
        print("scripts/webui_screenshots_tabs.py is not there: no web-ui tab screenshots", flush=True)
        return
    spec = importlib.util.spec_from_file_location("webui_screenshots_tabs", tabs)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.web_ui_screenshots(shoot, out_dir)


def main() -> None:
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing (apt-get install chromium)")
    app_screenshot()
    tab_screenshots()


if __name__ == "__main__":
    main()
