"""`swiftk app` on CPU with the demo model: how soon the page is usable, and how soon an answer starts.

Targets: the page is interactive within 2 s of launch, gradio's import aside; the first streamed token shows in the
browser as fast as `swiftk infer --stream true` prints it in the terminal. Prints, as medians over the repeats:

- `import gradio` in a fresh python (the part the target leaves aside);
- `swiftk app`: process start -> the page answers HTTP; the page's own part after gradio's import (as the command
  prints it); process start -> the model is ready (it loads once the page is up);
- launch after gradio's import: the arguments resolved, the page built and served (in a fresh process);
- browser: navigation -> the message box is visible and enabled (headless chromium);
- first token: `swiftk infer --stream true` (a line written to its stdin -> the first answer character on its
  stdout), and `swiftk app` (Enter pressed in the browser -> the first answer text rendered in the page).

Run: .venv/bin/python benchmarks/app_cpu.py [--repeats 5]   (needs /usr/bin/chromium and playwright)
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MODEL = ["--model", "swiftk/tiny-chat", "--temperature", "0"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
QUERY = "Who are you?"
#: answers timed in each app (after one that warms up)
TURNS = 4
LAUNCH = """
import time, urllib.request
import gradio
start = time.perf_counter()
from swiftk.cli.builtin import resolve_arguments
from swiftk_webui import serving
from swiftk_webui.app import page_options
from swiftk_webui.app.backend import Backend
from swiftk_webui.app.page import CSS, build_page, theme
args = resolve_arguments("app", ["--model", "swiftk/tiny-chat", "--server_port", "{port}"])
backend = Backend(args)
backend._resolve_local()  # what start() does before the model loads in its thread
demo = build_page(backend, page_options(args, backend))
url = serving.launch(demo, args, theme=theme(), css=CSS, quiet=True)
urllib.request.urlopen(url, timeout=10).read()
print("LAUNCH", time.perf_counter() - start)
demo.close()
"""
#: resolves to the milliseconds from the Enter key to the first answer text rendered in the page
FIRST_TEXT = """() => { window.__first = new Promise(resolve => {
  const root = document.querySelector('#app-chatbot');
  let start = null;
  document.addEventListener('keydown', e => { if (e.key === 'Enter' && start === null) start = performance.now(); }, true);
  const seen = new MutationObserver(() => {
    const bots = root.querySelectorAll("[data-testid='bot']");
    if (start !== null && bots.length && bots[bots.length - 1].innerText.trim()) {
      seen.disconnect(); resolve(performance.now() - start);
    }
  });
  seen.observe(root, {subtree: true, childList: true, characterData: true});
}); }"""


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} s (min {min(values):.3f}, n={len(values)})"


def gradio_import(repeats: int) -> list[float]:
    code = "import time; t = time.perf_counter(); import gradio; print(time.perf_counter() - t)"
    return [float(subprocess.check_output([sys.executable, "-c", code], env=ENV)) for _ in range(repeats)]


def launch_after_import(repeats: int) -> list[float]:
    from swiftk_webui.app.testing import free_port

    out = []
    for _ in range(repeats):
        code = LAUNCH.replace("{port}", str(free_port()))
        lines = subprocess.check_output([sys.executable, "-c", code], env=ENV, text=True).splitlines()
        out.append(next(float(line.split()[1]) for line in lines if line.startswith("LAUNCH ")))
    return out


def infer_first_token(repeats: int) -> list[float]:
    """`swiftk infer --stream true`: seconds from a query written to stdin to its answer's first character."""
    results = os.path.join(tempfile.mkdtemp(prefix="swiftk-bench-"), "infer.jsonl")  # not ./result/
    proc = subprocess.Popen(
        [sys.executable, "-m", "swiftk", "infer", *MODEL, "--stream", "true", "--result_path", results],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=ENV,
        bufsize=0,
    )
    chars: queue.Queue = queue.Queue()

    def pump() -> None:
        while True:
            data = proc.stdout.read(1)
            if not data:
                chars.put(None)
                return
            chars.put((time.perf_counter(), data))

    threading.Thread(target=pump, daemon=True).start()

    def read_until(marker: bytes) -> float:
        seen = b""
        while not seen.endswith(marker):
            item = chars.get(timeout=120)
            if item is None:
                raise RuntimeError("swiftk infer exited")
            stamp, data = item
            seen += data
        return stamp

    out = []
    try:
        read_until(b"<<< ")  # the model is loaded
        for _ in range(repeats + 1):  # the first turn warms up, as the app's first turn does
            sent = time.perf_counter()
            proc.stdin.write(QUERY.encode() + b"\n")
            read_until(b">>> ")
            first = read_until(b"I")  # the answer begins "I am Tiny Chat"
            out.append(first - sent)
            read_until(b"<<< ")
    finally:
        proc.stdin.write(b"exit\n")
        proc.wait(timeout=60)
        shutil.rmtree(os.path.dirname(results), ignore_errors=True)
    return out[1:]


def handler_first_token(repeats: int) -> list[float]:
    """The page's answer handler alone (client -> the in-process server -> the engine), no gradio, no browser."""
    from swiftk.cli.builtin import resolve_arguments

    from swiftk_webui.app import chat
    from swiftk_webui.app.backend import Backend

    args = resolve_arguments("app", [*MODEL, "--verbose", "false", "--result_path", os.devnull])
    backend = Backend(args).start()
    out = []
    try:
        backend.wait(120)
        for _ in range(repeats + 1):
            start = time.perf_counter()
            for history in chat.answer(backend.client, [chat.user_turn(QUERY, [])], None, chat.Settings(temperature=0)):
                out.append(time.perf_counter() - start)
                break
    finally:
        backend.close()
    return out[1:]


def app_figures(repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    from swiftk_webui.app.testing import AppProcess

    figures: dict[str, list[float]] = {"page": [], "own": [], "ready": [], "interactive": [], "first": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        for _ in range(repeats):
            with AppProcess([*MODEL, "--stream", "true", "--verbose", "false"], env=ENV) as app:
                figures["page"].append(app.page_after)
                figures["own"].append(app.page_time)
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                start = time.perf_counter()
                page.goto(app.url)
                page.locator("#app-input textarea:enabled").wait_for()
                figures["interactive"].append(time.perf_counter() - start)
                figures["ready"].append(app.wait_ready())
                page.locator("#app-status", has_text="Ready").wait_for()
                for turn in range(TURNS + 1):  # the first turn warms up
                    box = page.locator("#app-input textarea")
                    box.fill(QUERY)
                    page.evaluate(FIRST_TEXT)
                    box.press("Enter")
                    ms = page.evaluate("window.__first")
                    if turn:
                        figures["first"].append(ms / 1000)
                    page.locator("#app-chatbot [data-testid='bot']").last.get_by_text("help you?").wait_for()
                    page.locator("#app-clear").click()
                    page.locator("#app-chatbot [data-testid='bot']").first.wait_for(state="detached")
                page.close()
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    n = parser.parse_args().repeats
    print(f"import gradio (fresh process)            {median(gradio_import(n))}")
    print(f"launch after gradio's import -> page     {median(launch_after_import(n))}")
    app = app_figures(n)
    print(f"swiftk app: start -> page answers        {median(app['page'])}")
    print(f"swiftk app: page up after gradio import  {median(app['own'])}  (as the command reports it)")
    print(f"swiftk app: start -> model ready         {median(app['ready'])}")
    print(f"browser: navigation -> input enabled     {median(app['interactive'])}")
    print(f"first token, swiftk app (browser)        {median(app['first'])}")
    print(f"first token, the page's handler alone    {median(handler_first_token(max(n, 5)))}")
    print(f"first token, swiftk infer --stream true  {median(infer_first_token(max(n, 5)))}")


if __name__ == "__main__":
    main()
