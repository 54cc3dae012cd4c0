"""`swiftk app`'s page wired by gradio, driven with gradio_client: send, the streamed answer, regenerate, clear,
answers running side by side up to the concurrency limit, and the labels of each language."""

from __future__ import annotations

import json
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from swiftk_webui.app import chat
from swiftk_webui.app.page import PageOptions, build_page
from swiftk_webui.i18n import APP

gradio_client = pytest.importorskip("gradio_client")
BLANK = ("", "", "", "", "")  # the generation settings (text fields) left to the model


def text(history):
    return chat.text_of(history[-1]["content"])


@pytest.fixture(scope="module")
def tiny_page(tiny_backend, gradio_server):
    demo = build_page(tiny_backend, PageOptions(title="tiny-chat", stream=True, settings=chat.Settings(temperature=0)))
    with gradio_server(demo) as url:
        yield url


def test_send_then_the_answer_streams_in(tiny_page):
    client = gradio_client.Client(tiny_page, verbose=False)
    box, history = client.predict("Who are you?", [], api_name="/send")
    assert box == "" and history[-1]["role"] == "user"
    job = client.submit(history, "", "", "0", "", "", "", api_name="/answer")
    states = [text(state) for state in job]
    final = job.result()
    assert "Tiny Chat" in text(final) and [m["role"] for m in final] == ["user", "assistant"]
    assert len(states) > 1 and len(set(states)) > 1, states  # several partial answers came before the last
    again = client.predict(final, api_name="/regenerate")
    assert [m["role"] for m in again] == ["user"]
    assert client.predict(api_name="/clear") == []


def test_english_labels(tiny_page):
    config = json.load(urllib.request.urlopen(tiny_page + "config", timeout=10))
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"Chat", "Message", "System prompt", "Max new tokens", "Top-p"} <= labels
    values = {c.get("props", {}).get("value") for c in config["components"] if c.get("type") == "button"}
    assert {"Send", "Regenerate", "Stop", "Clear history"} <= values


class _Gate:
    """A model that answers only once `parties` requests are in flight together (or fails after 3 s)."""

    model = name = "gate"

    def __init__(self, parties):
        self.barrier = threading.Barrier(parties, timeout=3)
        self.client = self

    def wait(self, timeout=None):
        return True

    def chat_stream(self, messages, model=None, **params):
        self.barrier.wait()
        yield SimpleNamespace(choices=[SimpleNamespace(delta={"content": "together"})])


@pytest.mark.parametrize("limit, answered", [(3, True), (1, False)])
def test_answers_run_side_by_side_up_to_the_limit(gradio_server, limit, answered):
    gate = _Gate(3)
    demo = build_page(gate, PageOptions(title="gate", concurrency=limit))
    with gradio_server(demo) as url:
        client = gradio_client.Client(url, verbose=False)
        history = [chat.user_turn("hi", [])]
        with ThreadPoolExecutor(3) as pool:
            finals = list(pool.map(lambda _: client.predict(history, "", *BLANK, api_name="/answer"), range(3)))
    replies = [text(final) for final in finals]
    if answered:
        assert replies == ["together"] * 3
    else:  # one at a time: the first waits for the others in vain
        assert all(r.startswith(chat.ERROR_MARK) for r in replies)


def test_chinese_labels(gradio_server, tiny_backend):
    demo = build_page(tiny_backend, PageOptions(title="小模型", lang="zh"))
    with gradio_server(demo) as url:
        config = json.load(urllib.request.urlopen(url + "config", timeout=10))
    shown = json.dumps(config["components"], ensure_ascii=False)
    for key in ("chatbot", "input", "send", "regenerate", "clear", "system", "settings", "temperature"):
        assert APP[key]["zh"] in shown, key
    assert "Regenerate" not in shown and config["title"] == "小模型"


class _Recorder:
    """A multimodal model that answers one line and keeps the messages it was sent."""

    model = name = "recorder"

    def __init__(self):
        self.client, self.seen = self, []

    def wait(self, timeout=None):
        return True

    def chat_stream(self, messages, model=None, **params):
        self.seen.append(messages)
        yield SimpleNamespace(choices=[SimpleNamespace(delta={"content": "a red square"})])


def test_an_attached_image_reaches_a_multimodal_model_as_a_data_url(gradio_server, tmp_path):
    import base64

    from PIL import Image

    image = tmp_path / "red.png"
    Image.new("RGB", (4, 4), (255, 0, 0)).save(image)
    model = _Recorder()
    demo = build_page(model, PageOptions(title="vlm", kinds=frozenset({"image"})))
    with gradio_server(demo) as url:
        client = gradio_client.Client(url, verbose=False)
        message = {"text": "Colour?", "files": [gradio_client.handle_file(str(image))]}
        box, history = client.predict(message, [], api_name="/send")
        for part in history[-1]["content"]:  # gradio_client hands files back as local paths: upload them again
            if part["type"] == "file":
                part["file"] = gradio_client.handle_file(part["file"])
        final = client.predict(history, "", *BLANK, api_name="/answer")
    assert box["text"] == "" and not box["files"] and text(final) == "a red square"
    parts = model.seen[-1][-1]["content"]
    assert [p["type"] for p in parts] == ["image_url", "text"] and parts[1]["text"] == "Colour?"
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == image.read_bytes()
