"""The chat page of `swiftk app` as a gradio Blocks: a chat box, an input (with attachments for a multimodal
model), send / regenerate / stop / clear, and the system prompt and generation settings folded below.

The answer event runs up to `concurrency` at once (gradio runs one job per event at a time otherwise), so several
users are answered together and the engine batches them. Only built-in themes: a hub theme downloads at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from swiftk_webui.app import chat
from swiftk_webui.i18n import APP, label

#: passed to gradio's launch() (gradio 6 takes theme and css there, not in Blocks)
CSS = ".gradio-container {max-width: 1100px !important; margin: auto !important} #app-title {text-align: center}"
#: seconds the page's status waits for the model to load
LOAD_WAIT = 3600.0
_FILE_TYPES = {"image": "image", "audio": "audio", "video": "video"}


@dataclass
class PageOptions:
    """What the page shows and how it answers."""

    title: str
    lang: str = "en"
    stream: bool = True
    system: Optional[str] = None
    settings: chat.Settings = field(default_factory=chat.Settings)
    kinds: frozenset = frozenset()
    concurrency: int = 32


def theme() -> Any:
    import gradio as gr

    return gr.themes.Soft()


def build_page(backend: Any, options: PageOptions) -> Any:
    """The Blocks; `backend` gives ``client``, ``model``, ``name`` and ``wait(timeout)`` (see backend.Backend)."""
    import gradio as gr

    lang = options.lang

    def t(key: str) -> str:
        return label(APP, key, lang)

    def status() -> str:
        try:
            backend.wait(LOAD_WAIT)
        except Exception as exc:
            return f"**{t('load_failed')}**: {exc}"
        return f"{t('model')}: **{backend.model or backend.name}** · {t('ready')}"

    def respond(history: list, system: str, *fields: Any):
        yield from chat.respond(
            backend.client,
            history,
            system or None,
            list(fields),
            stream=options.stream,
            kinds=options.kinds,
            model=backend.model,
        )

    with gr.Blocks(title=options.title, analytics_enabled=False) as demo:
        gr.Markdown(f"# {options.title}", elem_id="app-title")
        state = gr.Markdown(f"{t('model')}: **{backend.name}** · {t('loading')}", elem_id="app-status")
        # no "share" button: it posts to Hugging Face Spaces, not where a local model's chats should go
        chatbot = gr.Chatbot(label=t("chatbot"), height=420, buttons=["copy", "copy_all"], elem_id="app-chatbot")
        if options.kinds:
            box = gr.MultimodalTextbox(
                label=t("input"),
                placeholder=t("input_placeholder"),
                file_types=[_FILE_TYPES[k] for k in sorted(options.kinds)],
                file_count="multiple",
                elem_id="app-input",
            )
        else:
            box = gr.Textbox(
                label=t("input"), placeholder=t("input_placeholder"), lines=1, max_lines=8, elem_id="app-input"
            )
        with gr.Row():
            send = gr.Button(t("send"), variant="primary", elem_id="app-send", min_width=120)
            again = gr.Button(t("regenerate"), elem_id="app-regenerate", min_width=120)
            stop = gr.Button(t("stop"), variant="stop", elem_id="app-stop", min_width=120)
            wipe = gr.Button(t("clear"), elem_id="app-clear", min_width=120)
        with gr.Accordion(t("settings"), open=False, elem_id="app-settings"):
            system = gr.Textbox(label=t("system"), info=t("system_info"), value=options.system or "", lines=2)
            with gr.Row():
                # text fields, not gr.Number: a Number cannot be blank (it shows and sends 0), and blank is
                # how the page says "the model's own default"
                values = [
                    gr.Textbox(label=t(name), value=value, placeholder=t("settings_info"), elem_id=f"app-{name}")
                    for name, value in zip(chat.SETTINGS, options.settings.fields())
                ]
        answer_inputs = [chatbot, system, *values]
        answer_kw = dict(concurrency_limit=options.concurrency, concurrency_id="answer")
        # the instant steps skip the queue (one round trip less before an answer starts) and its progress
        quick = dict(queue=False, show_progress="hidden")

        events = []
        for trigger in (box.submit, send.click):
            sent = trigger(
                chat.submit, [box, chatbot], [box, chatbot], api_name="send" if not events else False, **quick
            )
            events.append(
                sent.then(respond, answer_inputs, chatbot, api_name="answer" if not events else False, **answer_kw)
            )
        popped = again.click(chat.regenerate, chatbot, chatbot, api_name="regenerate", **quick)
        events.append(popped.then(respond, answer_inputs, chatbot, api_name=False, **answer_kw))
        stop.click(None, None, None, cancels=events, api_name=False)
        wipe.click(chat.clear, None, chatbot, api_name="clear", cancels=events, **quick)
        demo.load(status, None, state, api_name=False)
    return demo
