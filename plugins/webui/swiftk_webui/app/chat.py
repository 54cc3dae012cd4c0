"""The chat page's handlers, without gradio: the page's history to OpenAI messages, an answer streamed into it.

gradio 6 hands a Chatbot's history back as ``[{"role", "content": [parts]}]``, each part ``{"type": "text",
"text"}`` or ``{"type": "file", "file": {"path", "mime_type"}}``; a user turn is one message whose parts are its
files then its text.  Files go to the model as OpenAI content parts with data URLs (a remote server cannot read
our files).  Every handler is a plain function or generator so that the tests call them directly.
"""

from __future__ import annotations

import base64
import mimetypes
from dataclasses import dataclass
from typing import Any, Iterator, Optional

#: media kind (a mime type's first half) -> the OpenAI content part that carries it
MEDIA_PARTS = {"image": "image_url", "audio": "audio_url", "video": "video_url"}

#: the generation settings of the page, in the order the handlers take them
SETTINGS = ("max_new_tokens", "temperature", "top_k", "top_p", "repetition_penalty")
_INTEGERS = frozenset({"max_new_tokens", "top_k"})
#: how an error shows in the chat (and how it is known again: it is never sent back to the model)
ERROR_MARK = "⚠️"


@dataclass
class Settings:
    """The page's generation settings; None leaves the value to the server (generation_config.json)."""

    max_new_tokens: Optional[int] = None
    temperature: Optional[float] = None
    top_k: Optional[int] = None
    top_p: Optional[float] = None
    repetition_penalty: Optional[float] = None

    @classmethod
    def from_args(cls, args: Any) -> "Settings":
        return cls(**{name: args.get(name) for name in SETTINGS})

    @classmethod
    def from_fields(cls, *values: Any) -> "Settings":
        """The settings as the page's text fields hold them (blank: unset); ValueError names a bad one."""
        parsed = {}
        for name, value in zip(SETTINGS, values):
            text = "" if value is None else str(value).strip()
            if not text:
                parsed[name] = None
                continue
            kind = int if name in _INTEGERS else float
            try:
                parsed[name] = kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise ValueError(f"{name}: {text!r} is not {what}") from None
        return cls(**parsed)

    def fields(self) -> list[str]:
        """The values of the page's text fields: blank for unset."""
        return ["" if getattr(self, name) is None else f"{getattr(self, name):g}" for name in SETTINGS]

    def params(self) -> dict[str, Any]:
        """The OpenAI request fields: set ones only; a blank or 0 max_new_tokens means no limit."""
        params: dict[str, Any] = {}
        if self.max_new_tokens:
            params["max_tokens"] = int(self.max_new_tokens)
        if self.temperature is not None:
            params["temperature"] = float(self.temperature)
        if self.top_k is not None:
            params["top_k"] = int(self.top_k)
        if self.top_p is not None:
            params["top_p"] = float(self.top_p)
        if self.repetition_penalty is not None:
            params["repetition_penalty"] = float(self.repetition_penalty)
        return params


def media_kind(path: str, mime: Optional[str] = None) -> Optional[str]:
    """image, audio or video from a file's mime type (or its name), else None."""
    mime = mime or mimetypes.guess_type(path)[0] or ""
    kind = mime.split("/", 1)[0]
    return kind if kind in MEDIA_PARTS else None


def _data_url(path: str, mime: Optional[str]) -> str:
    mime = mime or mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as f:
        return f"data:{mime};base64," + base64.b64encode(f.read()).decode("ascii")


def _parts(content: Any) -> list[dict]:
    """A history message's content as a list of parts, whatever form gradio gave it in."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, dict):
        if "type" in content:
            return [content]
        if "path" in content:  # a bare FileData
            return [{"type": "file", "file": content}]
        return []
    if isinstance(content, (list, tuple)):
        return [part for item in content for part in _parts(item)]
    return [{"type": "text", "text": str(content)}]


def text_of(content: Any) -> str:
    """The text of a history message's content (its files left out)."""
    return "".join(p.get("text") or "" for p in _parts(content) if p.get("type") == "text")


def sendable(history: list[dict]) -> list[dict]:
    """The turns to send: an answer that was an error goes, with the user turn it failed to answer."""
    out: list[dict] = []
    for message in history:
        if _is_error(message):
            while out and out[-1].get("role") == "user":
                out.pop()
            continue
        out.append(message)
    return out


def to_openai(history: list[dict], system: Optional[str], kinds: frozenset = frozenset()) -> list[dict]:
    """OpenAI messages of the conversation: the system prompt, then each turn; a user turn with files becomes
    content parts (data URLs) when the model takes that kind of media (`kinds`), otherwise its text alone.
    User turns in a row (one stopped before any answer came) are sent as one: templates refuse two."""
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    for message in sendable(history):
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        parts = _parts(message.get("content"))
        if role == "assistant":
            messages.append({"role": "assistant", "content": text_of(parts)})
            continue
        media = []
        for part in parts:
            if part.get("type") != "file":
                continue
            file = part.get("file") or {}
            kind = media_kind(file.get("path") or "", file.get("mime_type"))
            if kind in kinds:
                url = _data_url(file["path"], file.get("mime_type"))
                media.append({"type": MEDIA_PARTS[kind], MEDIA_PARTS[kind]: {"url": url}})
        text = text_of(parts)
        if messages and messages[-1]["role"] == "user":
            messages[-1] = _merged(messages[-1], media, text)
            continue
        messages.append({"role": "user", "content": media + [{"type": "text", "text": text}] if media else text})
    return messages


def _merged(previous: dict, media: list[dict], text: str) -> dict:
    before = previous["content"]
    if isinstance(before, str) and not media:
        return {"role": "user", "content": f"{before}\n{text}" if before else text}
    parts = before if isinstance(before, list) else [{"type": "text", "text": before}]
    return {"role": "user", "content": parts + media + [{"type": "text", "text": text}]}


def user_turn(text: str, files: list[str]) -> dict:
    """The history message of what the user sent: its files (as gradio shows them), then its text."""
    parts: list[dict] = [
        {"type": "file", "file": {"path": path, "mime_type": mimetypes.guess_type(path)[0]}} for path in files
    ]
    if text:
        parts.append({"type": "text", "text": text})
    return {"role": "user", "content": parts}


def submit(message: Any, history: Optional[list]) -> tuple[Any, list]:
    """The send button: the user's turn joins the history and the input box empties (``""``, or
    ``{"text": "", "files": []}`` for a multimodal box)."""
    history = list(history or [])
    if isinstance(message, dict):  # MultimodalTextbox
        text, files = (message.get("text") or "").strip(), list(message.get("files") or [])
        files = [f if isinstance(f, str) else f.get("path") for f in files]
        empty: Any = {"text": "", "files": []}
    else:
        text, files, empty = (message or "").strip(), [], ""
    if text or files:
        history.append(user_turn(text, files))
    return empty, history


def answer(
    client: Any,
    history: Optional[list],
    system: Optional[str],
    settings: Settings,
    *,
    stream: bool = True,
    kinds: frozenset = frozenset(),
    model: Optional[str] = None,
) -> Iterator[list]:
    """Answer the last user turn: yields the history with the assistant's answer growing (each streamed chunk),
    or once whole without `stream`. Closing the generator (the tab closed, Stop) closes the HTTP stream, and the
    server cancels the request. An error shows as the answer, prefixed with ⚠️, and is not sent back later."""
    history = list(history or [])
    if not history or history[-1].get("role") != "user":
        yield history
        return
    messages = to_openai(history, system, kinds)
    params = settings.params()
    reply = {"role": "assistant", "content": ""}
    history.append(reply)
    try:
        if stream:
            text = ""
            for chunk in client.chat_stream(messages, model=model, **params):
                delta = chunk.choices[0].delta.get("content") if chunk.choices else None
                if delta:
                    text += delta
                    reply["content"] = text
                    yield history
            if not text:
                yield history
        else:
            response = client.chat(messages, model=model, **params)
            reply["content"] = response.choices[0].message.get("content") or ""
            yield history
    except (GeneratorExit, KeyboardInterrupt):
        raise
    except Exception as exc:  # the server's refusal or a lost connection: shown in the chat, not a crash
        reply["content"] = f"{ERROR_MARK} {getattr(exc, 'message', None) or exc}"
        yield history


def respond(client: Any, history: Optional[list], system: Optional[str], fields: list, **kwargs: Any) -> Iterator[list]:
    """The page's answer event: the settings read from their text fields (a bad one is shown as the answer,
    nothing is sent), then :func:`answer`."""
    try:
        settings = Settings.from_fields(*fields)
    except ValueError as exc:
        history = list(history or [])
        yield history + [{"role": "assistant", "content": f"{ERROR_MARK} {exc}"}]
        return
    yield from answer(client, history, system, settings, **kwargs)


def _is_error(message: dict) -> bool:
    return message.get("role") == "assistant" and text_of(message.get("content")).startswith(ERROR_MARK)


def regenerate(history: Optional[list]) -> list:
    """The regenerate button: the last answer goes, so that the last user turn is answered again."""
    history = list(history or [])
    while history and history[-1].get("role") == "assistant":
        history.pop()
    return history


def clear() -> list:
    """The clear button (and a new system prompt): an empty conversation."""
    return []
