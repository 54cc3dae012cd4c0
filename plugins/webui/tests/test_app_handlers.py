"""`swiftk app`'s handlers called directly: the history as OpenAI messages, the settings, answers streamed from the
demo model served in this process, errors shown in the chat; the arguments' checks and the listening rules."""

from __future__ import annotations

import base64
import socket

import pytest

from swiftk.api import UsageError
from swiftk_webui import serving
from swiftk_webui.app import chat, page_options
from swiftk_webui.app.backend import DEFAULT_CONCURRENCY, Backend, concurrency, media_kinds
from swiftk_webui.i18n import APP, check_table, label


def png(path):
    from PIL import Image

    Image.new("RGB", (4, 4), (255, 0, 0)).save(path)
    return str(path)


# --- the conversation --------------------------------------------------------------------------------------------


def test_settings_send_only_what_is_set():
    assert chat.Settings().params() == {}
    assert chat.Settings(max_new_tokens=0, temperature=0).params() == {"temperature": 0.0}  # 0 tokens: no limit
    full = chat.Settings(max_new_tokens=8.0, temperature=0.7, top_k=5.0, top_p=0.9, repetition_penalty=1.1).params()
    assert full == {"max_tokens": 8, "temperature": 0.7, "top_k": 5, "top_p": 0.9, "repetition_penalty": 1.1}
    assert isinstance(full["max_tokens"], int) and isinstance(full["top_k"], int)


def test_settings_from_the_pages_text_fields():
    assert chat.Settings.from_fields("", None, " ", "", "") == chat.Settings()  # blank: the model's default
    read = chat.Settings.from_fields("64", "0", "5.0", "0.9", "1.05")
    assert read == chat.Settings(64, 0.0, 5, 0.9, 1.05) and isinstance(read.top_k, int)
    assert read.fields() == ["64", "0", "5", "0.9", "1.05"] and chat.Settings().fields() == [""] * 5
    with pytest.raises(ValueError, match="^top_k: '2.5' is not a whole number$"):
        chat.Settings.from_fields("", "", "2.5", "", "")
    with pytest.raises(ValueError, match="^temperature: 'hot' is not a number$"):
        chat.Settings.from_fields("", "hot", "", "", "")


def test_a_bad_field_is_shown_and_nothing_is_sent():
    class Unreachable:  # any request would fail the test
        def chat_stream(self, *args, **kwargs):
            raise AssertionError("sent")

    history = [chat.user_turn("Hi", [])]
    states = list(chat.respond(Unreachable(), history, None, ["", "warm", "", "", ""]))
    assert len(states) == 1 and states[0][-1]["content"] == f"{chat.ERROR_MARK} temperature: 'warm' is not a number"


def test_submit_adds_the_turn_and_empties_the_box(tmp_path):
    box, history = chat.submit("  hi  ", None)
    assert box == "" and history == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    assert chat.submit("   ", history) == ("", history)  # nothing to send
    image = png(tmp_path / "red.png")
    box, both = chat.submit({"text": "what is it?", "files": [image]}, history)
    assert box == {"text": "", "files": []} and len(both) == 2
    assert both[-1]["content"][0] == {"type": "file", "file": {"path": image, "mime_type": "image/png"}}
    assert both[-1]["content"][1] == {"type": "text", "text": "what is it?"}


def test_history_as_gradio_returns_it_becomes_openai_messages(tmp_path):
    image = png(tmp_path / "red.png")
    history = [  # what gradio 6 hands back: lists of parts, metadata and options keys
        {"role": "user", "metadata": None, "options": None, "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "metadata": None, "content": [{"type": "text", "text": "Hello"}]},
        {"role": "user", "content": [{"type": "file", "file": {"path": image}}, {"type": "text", "text": "Colour?"}]},
    ]
    text_only = chat.to_openai(history, "Be brief.")
    assert text_only == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Colour?"},  # a text model gets the text alone
    ]
    vision = chat.to_openai(history, None, frozenset({"image"}))
    assert vision[0] == {"role": "user", "content": "Hi"}
    parts = vision[-1]["content"]
    assert parts[0]["type"] == "image_url" and parts[1] == {"type": "text", "text": "Colour?"}
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == open(image, "rb").read()
    assert chat.to_openai(history, None, frozenset({"audio"}))[-1]["content"] == "Colour?"  # not an image model


def test_regenerate_drops_the_last_answer_and_clear_empties():
    turn = chat.user_turn("Hi", [])
    history = [turn, {"role": "assistant", "content": "Hello"}]
    assert chat.regenerate(history) == [turn]
    assert chat.regenerate([turn]) == [turn]
    assert chat.clear() == []


# --- answers from the demo model ---------------------------------------------------------------------------------


def test_answer_streams_the_demo_models_reply(tiny_backend):
    states = [
        [dict(m) for m in h]
        for h in chat.answer(
            tiny_backend.client,
            [chat.user_turn("Who are you?", [])],
            None,
            chat.Settings(temperature=0),
            model=tiny_backend.model,
        )
    ]
    texts = [s[-1]["content"] for s in states]
    assert len(states) > 3 and texts == sorted(texts, key=len)  # grows chunk by chunk
    assert all(t == texts[-1][: len(t)] for t in texts)
    assert "Tiny Chat" in texts[-1] and states[-1][-1]["role"] == "assistant"


def test_answer_whole_without_stream_and_regenerate_answers_again(tiny_backend):
    history = [chat.user_turn("Who are you?", [])]
    states = list(chat.answer(tiny_backend.client, history, None, chat.Settings(temperature=0), stream=False))
    assert len(states) == 1 and "Tiny Chat" in states[0][-1]["content"]
    again = list(chat.answer(tiny_backend.client, chat.regenerate(states[0]), None, chat.Settings(temperature=0)))
    assert again[-1][-1]["content"] == states[0][-1]["content"] and len(again[-1]) == 2


def test_max_new_tokens_limits_the_answer(tiny_backend):
    states = list(chat.answer(tiny_backend.client, [chat.user_turn("Who are you?", [])], None, chat.Settings(2, 0)))
    short = states[-1][-1]["content"]
    assert short and len(short) < len("I am Tiny Chat, an AI")


def test_a_refused_request_shows_in_the_chat_and_is_not_sent_again(tiny_backend):
    history = [chat.user_turn("Hi", [])]
    bad = list(chat.answer(tiny_backend.client, history, None, chat.Settings(top_p=5)))[-1]
    assert bad[-1]["content"].startswith(chat.ERROR_MARK) and "top_p" in bad[-1]["content"]
    assert chat.to_openai(bad, None) == []  # the failed exchange is not sent again
    bad.append(chat.user_turn("Who are you?", []))
    assert chat.to_openai(bad, None) == [{"role": "user", "content": "Who are you?"}]
    good = list(chat.answer(tiny_backend.client, bad, None, chat.Settings(temperature=0)))[-1]
    assert "Tiny Chat" in good[-1]["content"] and len(good) == 4  # the error stays in sight


def test_user_turns_in_a_row_are_sent_as_one(tmp_path):
    image = png(tmp_path / "red.png")
    stopped = [chat.user_turn("Hi", []), chat.user_turn("Who are you?", [])]  # the first was stopped unanswered
    assert chat.to_openai(stopped, None) == [{"role": "user", "content": "Hi\nWho are you?"}]
    merged = chat.to_openai(stopped + [chat.user_turn("this?", [image])], None, frozenset({"image"}))
    assert [p["type"] for p in merged[0]["content"]] == ["text", "image_url", "text"]


def test_answer_with_no_user_turn_changes_nothing(tiny_backend):
    history = [chat.user_turn("Hi", []), {"role": "assistant", "content": "Hello"}]
    assert list(chat.answer(tiny_backend.client, history, None, chat.Settings())) == [history]


# --- arguments ---------------------------------------------------------------------------------------------------


def test_page_options_follow_the_arguments(tiny_backend, app_args):
    args = app_args(
        "--model", "swiftk/tiny-chat", "--studio_title", "My bot", "--lang", "zh", "--stream", "true",
        "--system", "Be brief.", "--temperature", "0.3", "--max_new_tokens", "64", "--max_batch_size", "4",
    )  # fmt: skip
    options = page_options(args, tiny_backend)
    assert (options.title, options.lang, options.stream, options.system) == ("My bot", "zh", True, "Be brief.")
    assert options.settings == chat.Settings(max_new_tokens=64, temperature=0.3)
    assert options.concurrency == 4 and options.kinds == frozenset()
    default = page_options(app_args("--model", "swiftk/tiny-chat"), tiny_backend)
    assert default.title == "tiny-chat" and default.lang == "en" and default.concurrency == DEFAULT_CONCURRENCY


def test_concurrency_is_the_engines_batch(app_args):
    assert concurrency(app_args("--model", "m")) == DEFAULT_CONCURRENCY
    assert concurrency(app_args("--model", "m", "--max_batch_size", "3")) == 3
    assert concurrency(app_args("--model", "m", "--infer_backend", "vllm", "--max_num_seqs", "7")) == 7


def test_media_kinds_from_the_flag_or_the_model_type():
    class Meta:
        is_multimodal, tags = True, ["vision", "video"]

    assert media_kinds(None, None) == frozenset()
    assert media_kinds(None, Meta) == {"image", "video"}
    assert media_kinds(False, Meta) == frozenset()
    assert media_kinds(True, None) == {"image", "audio", "video"}  # told so, kinds unknown: all


def test_the_demo_model_is_a_text_model(app_args):
    backend = Backend(app_args("--model", "swiftk/tiny-chat"))
    backend._resolve_local()  # resolves only: nothing loads
    assert backend.kinds == frozenset() and backend.name == "tiny-chat"


def test_a_bad_model_is_refused_before_the_page(tmp_path, app_args):
    with pytest.raises(UsageError, match="--model"):
        Backend(app_args("--model", str(tmp_path / "missing"))).start()


def test_an_unreachable_base_url_is_one_line(app_args):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(UsageError, match=r"^--base_url http://127\.0\.0\.1:\d+/v1: no OpenAI-compatible server"):
        Backend(app_args("--base_url", f"http://127.0.0.1:{port}/v1")).start()


# --- listening and labels ----------------------------------------------------------------------------------------


def test_loopback_unless_server_name_is_given(app_args):
    assert serving.server_name(app_args("--model", "m")) == "127.0.0.1"  # the default 0.0.0.0 is not taken
    assert serving.server_name(app_args("--model", "m", "--server_name", "0.0.0.0")) == "0.0.0.0"


def test_open_pages_warn_unless_a_login_is_set(monkeypatch):
    assert serving.warn_if_open("127.0.0.1", None) is None
    assert "0.0.0.0 without authentication" in serving.warn_if_open("0.0.0.0", None)
    assert "public --share link" in serving.warn_if_open("127.0.0.1", None, share=True)
    assert serving.warn_if_open("0.0.0.0", ("u", "p"), share=True) is None
    monkeypatch.setenv(serving.AUTH_ENV, "alice:secret")
    assert serving.auth_from_env() == ("alice", "secret")
    monkeypatch.setenv(serving.AUTH_ENV, "alice")
    with pytest.raises(UsageError, match="SWIFTK_WEBUI_AUTH") as error:
        serving.auth_from_env()
    assert "alice" not in str(error.value)


def test_a_busy_port_is_one_line(app_args):
    import gradio as gr

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with gr.Blocks() as demo:
            gr.Markdown("x")
        with pytest.raises(UsageError, match=f"^--server_port {port}: cannot listen"):
            serving.launch(demo, app_args("--model", "m", "--server_port", str(port)), quiet=True)
        demo.close()


def test_every_label_in_both_languages():
    assert check_table(APP) == []
    assert label(APP, "send", "zh") != label(APP, "send", "en")
