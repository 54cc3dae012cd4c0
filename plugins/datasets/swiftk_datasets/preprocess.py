"""Rows of any supported form become standard rows, detected automatically.

Forms (ms-swift's AutoPreprocessor, extended):

* messages: ``messages`` / ``conversations`` / ``conversation`` (OpenAI or ShareGPT spelling);
* alpaca: ``instruction`` [+ ``input``] + ``output`` [+ ``history``, ``system``];
* query/response: ``query`` (or prompt, input, question, problem) + ``response`` (or answer,
  output, completion, targets, ...) [+ ``history`` as ``[[q, r], ...]``, ``system``];
* pretraining: ``text`` alone becomes ``[{"role": "assistant", "content": text}]``;
* preference: ``rejected_response``, ``rejected_messages``, or ``chosen``/``rejected`` (strings,
  message lists, or Anthropic-style "\\n\\nHuman: ... \\n\\nAssistant: ..." dialogues);
* KTO ``label``; ``tools`` (normalised to a JSON string); any other column is kept as is
  (``solution`` for reward functions, ``images``...).

The column roles are decided from column names (:class:`Layout`): once per dataset for its output
schema, and once per set of filled columns for each row, so a file that mixes forms (one row
``messages``, the next ``prompt``/``completion``) still reads row by row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

from swiftk_datasets.errors import BadRow
from swiftk_datasets.messages import MessageStyle, check_messages, normalize_messages, parse_structured

MESSAGES_KEYS = ("messages", "conversations", "conversation")
SYSTEM_KEYS = ("system", "system_prompt")
QUERY_KEYS = ("query", "prompt", "question", "problem", "input", "instruction")
RESPONSE_KEYS = (
    "response",
    "answer",
    "output",
    "completion",
    "targets",
    "target",
    "answer_key",
    "answers",
    "chosen",
    "text",
    "content",
)
MEDIA_ALIASES = {"image": "images", "video": "videos", "audio": "audios"}

#: Columns of the standard form besides ``messages``; ``remove_unused_columns`` keeps these.
STANDARD_COLUMNS = (
    "messages",
    "rejected_response",
    "rejected_messages",
    "label",
    "tools",
    "images",
    "videos",
    "audios",
    "rejected_images",
    "objects",
    "channel",
    "margin",
    # embedding and reranker rows (swift-plugin-embedding): the documents of the anchor/query in ``messages``
    "positive_messages",
    "negative_messages",
)


@dataclass(frozen=True)
class Needs:
    """What a command needs from every row (sft: a response; dpo: a rejected one; kto: a label)."""

    response: bool = False
    rejected: bool = False
    label_or_rejected: bool = False
    why: str = ""


@dataclass(frozen=True)
class Layout:
    """Which column plays which role, decided from the column names alone."""

    messages: Optional[str] = None
    system: Optional[str] = None
    query: Optional[str] = None
    alpaca_input: Optional[str] = None
    response: Optional[str] = None
    history: Optional[str] = None
    rejected_response: Optional[str] = None
    rejected_messages: Optional[str] = None
    rejected: Optional[str] = None
    label: Optional[str] = None
    tools: Optional[str] = None
    media: tuple[tuple[str, str], ...] = ()
    extras: tuple[str, ...] = ()

    @classmethod
    def from_columns(cls, columns: Iterable[str]) -> "Layout":
        cols = list(columns)
        present = set(cols)

        def first(keys, exclude=()):
            return next((k for k in keys if k in present and k not in exclude), None)

        messages = first(MESSAGES_KEYS)
        system = first(SYSTEM_KEYS)
        alpaca_input = None
        if "instruction" in present:
            query = "instruction"
            alpaca_input = "input" if "input" in present else None
        else:
            query = first(QUERY_KEYS)
        taken = {messages, system, query, alpaca_input}
        rejected = "rejected" if "rejected" in present else None
        response = first(RESPONSE_KEYS, exclude=taken)
        if response in ("text", "content") and messages:
            response = None  # a stray text column next to messages is an extra, not a response
        layout = dict(
            messages=messages,
            system=system,
            query=query,
            alpaca_input=alpaca_input,
            response=response,
            history="history" if "history" in present else None,
            rejected_response="rejected_response" if "rejected_response" in present else None,
            rejected_messages="rejected_messages" if "rejected_messages" in present else None,
            rejected=rejected,
            label="label" if "label" in present else None,
            tools="tools" if "tools" in present else None,
        )
        used = {v for v in layout.values() if v}
        media = tuple((src, dst) for src, dst in MEDIA_ALIASES.items() if src in present and dst not in present)
        used |= {src for src, _ in media}
        extras = tuple(c for c in cols if c not in used)
        return cls(**layout, media=media, extras=extras)

    def output_columns(self, *, rejected_is_list: bool = False) -> list[str]:
        """The standard columns this layout produces, in a fixed order."""
        out = ["messages"]
        if self.rejected_response or self.rejected or self.rejected_messages:
            out.append("rejected_response")
        if self.rejected_messages or (self.rejected and rejected_is_list):
            out.append("rejected_messages")
        if self.label:
            out.append("label")
        if self.tools:
            out.append("tools")
        out.extend(dst for _, dst in self.media)
        return out

    @property
    def form(self) -> str:
        """The name of the form, for logs."""
        if self.messages:
            return "messages"
        if self.alpaca_input or self.query == "instruction":
            return "alpaca"
        if self.query:
            return "query-response"
        if self.response == "text":
            return "pretraining text"
        if self.response:
            return "response-only"
        return "unknown"


def _str(value: Any, column: str, what: str = "text") -> Optional[str]:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRow("bad type", f"is a {type(value).__name__}, not {what}", column)
    return str(value)


def _label(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise BadRow("bad label", f"is {value!r}; a KTO label is true/false (or 1/0)", "label")


def _tools(value: Any) -> str:
    """``tools`` as a JSON string of a list, whatever the row gave (a string, a list or one tool)."""
    parsed = parse_structured(value, "tools", "a JSON list of tools")
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise BadRow("bad tools", f"is a {type(parsed).__name__}, not a list of tool definitions", "tools")
    return json.dumps(parsed, ensure_ascii=False)


def _history(value: Any) -> list[dict]:
    history = parse_structured(value, "history", "a list of [query, response] pairs")
    if not isinstance(history, (list, tuple)):
        raise BadRow("bad history", f"is a {type(history).__name__}, not a list of [query, response] pairs", "history")
    out = []
    for i, pair in enumerate(history):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise BadRow("bad history", f"history[{i}] is not a [query, response] pair", "history")
        out.append({"role": "user", "content": _str(pair[0], "history")})
        out.append({"role": "assistant", "content": _str(pair[1], "history")})
    return out


def _is_dialogue(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("\n\nHuman:")


def _hh_dialogue(text: str, column: str) -> list[dict]:
    """Anthropic hh-rlhf text: ``"\\n\\nHuman: q\\n\\nAssistant: a ..."``."""
    marks = {"\n\nHuman:": "user", "\n\nAssistant:": "assistant"}
    out: list[dict] = []
    rest = text if text.startswith("\n\n") else "\n\n" + text
    while rest:
        mark = next((m for m in marks if rest.startswith(m)), None)
        if mark is None:
            raise BadRow(
                "bad dialogue",
                "is a string that is neither a plain response nor a '\\n\\nHuman: ... \\n\\nAssistant: ...' dialogue",
                column,
            )
        rest = rest[len(mark) :]
        nxt = min((i for i in (rest.find(m) for m in marks) if i >= 0), default=len(rest))
        out.append({"role": marks[mark], "content": rest[:nxt].strip()})
        rest = rest[nxt:]
    return out


class RowStandardizer:
    """Turns one raw row into a standard row, or raises :class:`BadRow` saying why it cannot.

    Picklable (it crosses into ``dataset_num_proc`` worker processes).
    """

    def __init__(
        self,
        needs: Needs = Needs(),
        style: MessageStyle = MessageStyle(),
        preprocess: Optional[Callable[[dict], Optional[dict]]] = None,
        keep_extras: bool = True,
    ):
        self.needs = needs
        self.style = style
        self.preprocess = preprocess
        self.keep_extras = keep_extras
        self._layouts: dict[tuple, Layout] = {}

    def layout(self, columns: Iterable[str]) -> Layout:
        key = tuple(columns)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = Layout.from_columns(key)
        return layout

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_layouts"] = {}
        return state

    # -- the conversion ------------------------------------------------------------------
    def __call__(self, row: dict) -> dict:
        if self.preprocess is not None:
            row = self._run_preprocess(row)
        layout = self.layout(k for k, v in row.items() if v is not None)
        out: dict[str, Any] = {}
        messages, source = self._messages(row, layout)
        self._preference(row, layout, messages, source, out)
        check_messages(messages, source, need_response=self.needs.response)
        out["messages"] = messages
        if layout.label:
            value = row.get(layout.label)
            out["label"] = _label(value) if value is not None and self.needs.label_or_rejected else value
        if layout.tools:
            out["tools"] = None if row.get(layout.tools) is None else _tools(row[layout.tools])
        for src, dst in layout.media:
            value = row.get(src)
            out[dst] = [value] if value is not None and not isinstance(value, list) else value
        self._check_needs(out)
        if self.keep_extras:
            for col in layout.extras:
                out[col] = row.get(col)
        return out

    def _run_preprocess(self, row: dict) -> dict:
        try:
            result = self.preprocess(dict(row))
        except BadRow:
            raise
        except Exception as exc:  # a user's preprocess_func: name it and quote its error
            raise BadRow("preprocess_func error", f"{type(exc).__name__}: {exc}") from exc
        if result is None:
            raise BadRow("dropped by preprocess_func", "the dataset's preprocess_func returned None")
        if not isinstance(result, dict):
            raise BadRow(
                "preprocess_func error", f"the preprocess_func returned a {type(result).__name__}, not a row (dict)"
            )
        return result

    def _messages(self, row: dict, layout: Layout) -> tuple[list[dict], str]:
        """The conversation, and the column it came from (for error messages)."""
        system = _str(row.get(layout.system), layout.system) if layout.system else None
        if layout.messages and row.get(layout.messages) is not None:
            messages = normalize_messages(row[layout.messages], layout.messages, self.style)
            if system and messages[0]["role"] != "system":
                messages.insert(0, {"role": "system", "content": system})
            return messages, layout.messages
        query = self._query(row, layout)
        response_col = layout.response
        response = row.get(response_col) if response_col else None
        history = _history(row[layout.history]) if layout.history and row.get(layout.history) is not None else []
        if query is None and response is None and not history:
            raise BadRow("no conversation", self._no_conversation(row, layout))
        messages = [{"role": "system", "content": system}] if system else []
        messages.extend(history)
        if isinstance(query, list):  # a conversational prompt (trl style)
            messages.extend(normalize_messages(query, layout.query, self.style))
        elif query is not None:
            messages.append({"role": "user", "content": query})
        if isinstance(response, (list, tuple)) or _is_dialogue(response):
            turns = self._turns(response, response_col)
            if turns[0]["role"] in ("user", "system"):  # the whole conversation, prompt included
                head = [{"role": "system", "content": system}] if system and turns[0]["role"] != "system" else []
                return head + turns, response_col
            messages.extend(turns)
        elif response is not None:
            messages.append({"role": "assistant", "content": _str(response, response_col)})
        return messages, (layout.query or response_col or layout.history or "messages")

    def _query(self, row: dict, layout: Layout):
        if not layout.query:
            return None
        query = row.get(layout.query)
        if isinstance(query, (list, tuple)):
            return list(query)
        query = _str(query, layout.query)
        if layout.alpaca_input:
            extra = _str(row.get(layout.alpaca_input), layout.alpaca_input)
            if extra:
                query = f"{query}\n{extra}" if query else extra
        return query

    def _turns(self, value: Any, column: str) -> list[dict]:
        if isinstance(value, str):
            return _hh_dialogue(value, column)
        return normalize_messages(value, column, self.style)

    def _no_conversation(self, row: dict, layout: Layout) -> str:
        filled = [k for k, v in row.items() if v is not None] or list(row)
        return (
            f"no conversation found in columns {', '.join(map(str, filled)) or '(none)'}; expected messages "
            f"(or conversations), instruction/output, query/response or text, or map yours with "
            f"--columns '{{\"your_column\": \"query\"}}'"
        )

    def _preference(self, row: dict, layout: Layout, messages: list[dict], source: str, out: dict) -> None:
        """rejected_response / rejected_messages from whichever preference columns the row has."""
        if not (layout.rejected_response or layout.rejected or layout.rejected_messages):
            return
        rejected_messages = None
        rejected_response = None
        if layout.rejected_messages and row.get(layout.rejected_messages) is not None:
            rejected_messages = normalize_messages(row[layout.rejected_messages], layout.rejected_messages, self.style)
        if layout.rejected and row.get(layout.rejected) is not None:
            value = row[layout.rejected]
            if isinstance(value, (list, tuple)) or _is_dialogue(value):
                turns = self._turns(value, layout.rejected)
                prompt = messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
                if turns and turns[0]["role"] in ("user", "system"):
                    rejected_messages = turns  # a whole conversation
                else:
                    rejected_messages = [dict(m) for m in prompt] + turns
            else:
                rejected_response = _str(value, layout.rejected)
        if layout.rejected_response and row.get(layout.rejected_response) is not None:
            rejected_response = _str(row[layout.rejected_response], layout.rejected_response)
        column = layout.rejected_response or layout.rejected or layout.rejected_messages
        if rejected_messages is not None:
            if messages[0]["role"] == "system" and rejected_messages[0]["role"] != "system":
                rejected_messages.insert(0, dict(messages[0]))
            check_messages(rejected_messages, column, need_response=True)
            derived = _last_differing_response(messages, rejected_messages)
            if derived is None and rejected_messages == messages:
                raise BadRow("bad preference", "the rejected conversation is the same as the chosen one", column)
            rejected_response = rejected_response or derived
            out["rejected_messages"] = rejected_messages
        if rejected_response is not None:
            if rejected_response == "":
                raise BadRow("bad preference", "the rejected response is empty", column)
            if messages and messages[-1]["role"] == "assistant" and messages[-1]["content"] == rejected_response:
                raise BadRow("bad preference", "the rejected response is the same as the chosen response", column)
        out["rejected_response"] = rejected_response

    def _check_needs(self, out: dict) -> None:
        needs = self.needs
        has_rejected = out.get("rejected_response") is not None or out.get("rejected_messages") is not None
        if needs.rejected and not has_rejected:
            raise BadRow(
                "no rejected response",
                f"{needs.why} needs a rejected answer per row: a rejected_response "
                f"column, rejected_messages, or chosen/rejected columns",
            )
        if needs.label_or_rejected and out.get("label") is None and not has_rejected:
            raise BadRow("no label", f"{needs.why} needs a label column (true/false) or a rejected_response")


def _last_differing_response(chosen: list[dict], rejected: list[dict]) -> Optional[str]:
    """When two conversations share the prompt and differ in the last answer: that rejected answer."""
    if len(chosen) != len(rejected) or not rejected or rejected[-1]["role"] != "assistant":
        return None
    if chosen[:-1] != rejected[:-1] or chosen[-1] == rejected[-1]:
        return None
    return rejected[-1]["content"]
