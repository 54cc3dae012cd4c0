"""Label tables of the pages: every label in English and Chinese (`--lang en|zh`).

A table maps a key to ``{"en": ..., "zh": ...}``; :func:`label` picks one language.  Each page keeps its own
table (``APP`` here for `swiftk app`; `swiftk web-ui` may keep its own in its package) and
:func:`check_table` is what the tests run on every table: both languages present and non-empty.
"""

from __future__ import annotations

from typing import Mapping

LANGS = ("en", "zh")

#: `swiftk app`: the chat page for one model
APP: dict[str, dict[str, str]] = {
    "chatbot": {"en": "Chat", "zh": "对话"},
    "input": {"en": "Message", "zh": "输入"},
    "input_placeholder": {"en": "Type a message and press Enter", "zh": "输入消息后按回车发送"},
    "send": {"en": "Send", "zh": "发送"},
    "regenerate": {"en": "Regenerate", "zh": "重试"},
    "clear": {"en": "Clear history", "zh": "清除历史"},
    "stop": {"en": "Stop", "zh": "停止"},
    "system": {"en": "System prompt", "zh": "系统提示词 (system)"},
    "system_info": {
        "en": "Sent first, with every answer; blank for the model's own",
        "zh": "每次回答时最先发送；留空则使用模型默认",
    },
    "settings": {"en": "Generation settings", "zh": "生成参数"},
    "settings_info": {"en": "the model's default", "zh": "模型默认值"},
    "max_new_tokens": {"en": "Max new tokens", "zh": "最大生成长度 (max_new_tokens)"},
    "temperature": {"en": "Temperature", "zh": "温度 (temperature)"},
    "top_k": {"en": "Top-k", "zh": "Top-k"},
    "top_p": {"en": "Top-p", "zh": "Top-p"},
    "repetition_penalty": {"en": "Repetition penalty", "zh": "重复惩罚 (repetition_penalty)"},
    "model": {"en": "Model", "zh": "模型"},
    "loading": {"en": "Loading the model…", "zh": "模型加载中…"},
    "ready": {"en": "Ready", "zh": "就绪"},
    "load_failed": {"en": "The model could not be loaded", "zh": "模型加载失败"},
    "error": {"en": "Error", "zh": "错误"},
    "media_unsupported": {
        "en": "This model takes text only; the attached files were not sent",
        "zh": "该模型只接受文本，附件未发送",
    },
    "empty": {"en": "Type a message first", "zh": "请先输入消息"},
}


def label(table: Mapping[str, Mapping[str, str]], key: str, lang: str) -> str:
    """The label `key` of `table` in `lang` (English when the language has none)."""
    entry = table[key]
    return entry.get(lang) or entry["en"]


def check_table(table: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The keys of `table` missing a language or with an empty label (what the tests assert is empty)."""
    return [key for key, entry in table.items() if any(not entry.get(lang) for lang in LANGS)]
