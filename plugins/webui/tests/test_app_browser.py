"""`swiftk app` end to end in headless chromium: the real command on the demo model, a message typed and sent
with Enter, the answer seen growing token by token; regenerate, clear; and a page in Chinese in front of a
remote `swiftk deploy --api_key`. Screenshots go to the test's artifacts folder (conftest.artifacts_dir)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from swiftk_webui.app.testing import AppProcess
from swiftk_webui.i18n import APP

pytestmark = pytest.mark.slow

KEY = "sk-app-test"
ENV = {"OMP_NUM_THREADS": "1"}
BOT = "#app-chatbot [data-testid='bot']"
#: every text the last answer shows, as the browser renders it
WATCH = """() => {
  window.__answers = [];
  const root = document.querySelector('#app-chatbot');
  new MutationObserver(() => {
    const bots = root.querySelectorAll("[data-testid='bot']");
    if (bots.length) window.__answers.push(bots[bots.length - 1].innerText);
  }).observe(root, {subtree: true, childList: true, characterData: true});
}"""


def expect():
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


def open_page(page, app, ready_text):
    page.goto(app.url)
    expect()(page.locator("#app-status")).to_contain_text(ready_text, timeout=120_000)


def settled(page, timeout: float = 90.0, quiet: float = 3.0) -> str:
    """The last answer's text once its stream has ended: recorded (WATCH), then unchanged for ``quiet`` seconds.
    Asserting on the page before that can match an answer that is about to be replaced."""
    deadline = time.monotonic() + timeout
    seen, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        count = page.evaluate("window.__answers.length")
        if count != seen:
            seen, since = count, time.monotonic()
        elif count and time.monotonic() - since >= quiet:
            return page.evaluate("window.__answers[window.__answers.length - 1]")
        time.sleep(0.2)
    raise AssertionError(f"the answer did not settle in {timeout} s: {page.evaluate('window.__answers')[-3:]}")


def send(page, text):
    page.evaluate(WATCH)
    box = page.locator("#app-input textarea")
    box.fill(text)
    box.press("Enter")


@pytest.fixture(scope="module")
def local_app():
    args = ["--model", "swiftk/tiny-chat", "--stream", "true", "--temperature", "0", "--verbose", "false"]
    with AppProcess(args, env=ENV) as app:
        yield app


def test_chat_with_the_demo_model(page, local_app, artifacts_dir):
    open_page(page, local_app, "Ready")
    expect()(page).to_have_title("tiny-chat")
    send(page, "Who are you?")
    answer = page.locator(BOT).last
    expect()(answer).to_contain_text("How can I help you?", timeout=60_000)
    final = settled(page)
    page.screenshot(path=str(artifacts_dir / "app-en.png"))
    shown = [t for t in page.evaluate("window.__answers") if t.strip()]
    partial = {t for t in shown if t != final and final.startswith(t.strip())}
    assert len(partial) >= 3, shown  # the answer appeared piece by piece, not whole
    assert page.locator("#app-input textarea").input_value() == ""

    page.evaluate(WATCH)  # from here: the regenerated answer's texts
    page.locator("#app-regenerate").click()  # answered again: still one answer, the same one (temperature 0)
    assert settled(page) == final  # streamed anew to its end, not the old answer still on the page
    expect()(page.locator(BOT)).to_have_count(1)
    page.locator("#app-clear").click()
    expect()(page.locator("#app-chatbot [data-testid='user']")).to_have_count(0)


@pytest.fixture(scope="module")
def deployed():
    from swiftk_infer.testing import DeployProcess

    with DeployProcess(["--model", "swiftk/tiny-chat", "--api_key", KEY, "--verbose", "false"], env=ENV) as server:
        yield server


def logged(path, question, timeout=20.0):
    """The requests `swiftk deploy` logged (its --result_path, written by a thread) that asked `question`."""
    deadline = time.monotonic() + timeout
    while True:
        with open(path, encoding="utf-8") as f:
            requests = [json.loads(line)["request"] for line in f if line.strip()]
        asked = [r for r in requests if r["messages"][-1]["content"] == question]
        if asked or time.monotonic() > deadline:
            return asked
        time.sleep(0.1)


def test_remote_base_url_with_api_key_in_chinese(page, deployed, artifacts_dir):
    args = ["--base_url", deployed.base_url, "--api_key", KEY, "--lang", "zh", "--stream", "true"]
    with AppProcess(args, env=ENV) as app:
        open_page(page, app, APP["ready"]["zh"])
        for key in ("send", "regenerate", "clear", "stop"):
            expect()(page.locator(f"#app-{'regenerate' if key == 'regenerate' else key}")).to_have_text(APP[key]["zh"])
        expect()(page.get_by_text(APP["settings"]["zh"])).to_be_visible()
        send(page, "Who are you?")
        expect()(page.locator(BOT).last).to_contain_text("Tiny Chat", timeout=60_000)
        page.screenshot(path=str(artifacts_dir / "app-zh-remote.png"))
        asked = logged(deployed.result_path, "Who are you?")
        assert asked and asked[-1]["stream"] is True  # answered by the remote server, streamed
        # the settings left blank on the page are not sent: the model's own defaults apply
        assert not {"temperature", "top_k", "top_p", "repetition_penalty", "max_tokens"} & set(asked[-1])


def test_a_wrong_api_key_is_refused_in_one_line(deployed):
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", "app", "--base_url", deployed.base_url, "--api_key", "sk-wrong"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "--api_key" in last and "401" in last and "sk-wrong" not in proc.stderr + proc.stdout
