"""Every template encodes conversations to exactly the ids of its official jinja chat template.

For each registered template, the official ``chat_template`` (tests/data/chat_templates, sources in
SOURCES.md) is rendered by transformers' ``apply_chat_template`` on a tiny tokenizer holding the
family's special tokens, the text is tokenized, and ``Template.encode`` must give the same ids, on
conversations with and without a system, with several turns, with tools, and with the generation
prompt.  Where the official template writes nothing after the last answer (GLM, Baichuan, MiniCPM),
our encoding adds the stop token so that training teaches the model to stop: ``train_extra``.
``docs/models.md`` lists these deliberate differences.
"""

from __future__ import annotations

import pytest

import swiftk
from models_helpers import GEN_KINDS, USER1, USER2, CHAT_TEMPLATES, answers, make_template, row, tiny_tokenizer, to_hf

BASIC = ["single", "system", "multi", "gen"]
TOOLS = ["tools", "tools_system", "gen_tools"]
DATE = {"date_string": "26 Jul 2024"}

#: template -> kinds compared, kwargs of our template and of the jinja render, and what we append.
CASES = {
    "qwen": {"kinds": BASIC},
    "qwen2_5": {"kinds": BASIC + TOOLS},
    "qwq": {"kinds": BASIC + TOOLS},
    "qwen3": {"kinds": BASIC + TOOLS},
    "chatml": {"kinds": BASIC},
    "yi": {"kinds": BASIC},
    "internlm2": {"kinds": BASIC},
    "llama": {"kinds": BASIC},
    "llama3": {"kinds": BASIC},
    "llama3_1": {"kinds": BASIC + TOOLS},
    "llama3_2": {"kinds": BASIC + TOOLS, "ours": DATE, "jinja": DATE},
    "mistral": {"kinds": BASIC},
    "chatglm3": {"kinds": BASIC, "train_extra": "<|user|>"},
    "glm4": {"kinds": BASIC + TOOLS, "train_extra": "<|user|>"},
    "deepseek": {"kinds": BASIC},
    # DeepSeek-V2.5's template prints 8 spaces before BOS when there is a system message (the whitespace
    # around an unstripped `{% set %}` tag); we do not reproduce that and compare without them.
    "deepseek_v2_5": {"kinds": BASIC, "lstrip_jinja": True},
    "deepseek_r1": {"kinds": BASIC},
    "phi3": {"kinds": BASIC},
    "phi4": {"kinds": BASIC},
    "gemma": {"kinds": ["single", "multi_nosys", "gen_nosys"]},  # its template refuses a system message
    "gemma3": {"kinds": BASIC},
    "baichuan": {"kinds": BASIC, "train_extra": "{{eos_token}}"},
    "minicpm": {"kinds": BASIC, "train_extra": "{{eos_token}}"},
}

PARAMS = [(name, kind) for name, case in CASES.items() for kind in case["kinds"]]


def _ours_plugin_templates() -> set[str]:
    """Our templates that render a family's official chat template (ms-swift's own 'default' has none)."""
    entries = swiftk.get_host().registry("templates").entries()
    return {e.name for e in entries if e.plugin == "models" and not e.load().extra.get("no_official_jinja")}


def test_every_template_has_its_official_jinja_and_a_case():
    names = _ours_plugin_templates()
    assert names == set(CASES)
    assert not [n for n in names if not (CHAT_TEMPLATES / f"{n}.jinja").is_file()]


@pytest.mark.parametrize("name,kind", PARAMS, ids=[f"{n}-{k}" for n, k in PARAMS])
def test_encoding_equals_official_jinja(name, kind):
    case = CASES[name]
    tok = tiny_tokenizer(name)
    template = make_template(name, **case.get("ours", {}))
    generate = kind in GEN_KINDS
    sample = row(kind)
    messages, tools = to_hf(sample, name)
    text = tok.apply_chat_template(
        messages, tools=tools, add_generation_prompt=generate, tokenize=False, **case.get("jinja", {})
    )
    if case.get("lstrip_jinja"):
        text = text.lstrip(" ")
    if not generate:
        text += case.get("train_extra", "").replace("{{eos_token}}", tok.eos_token or "")
    expected = tok(text, add_special_tokens=False)["input_ids"]
    encoded = template.encode(sample, add_generation_prompt=generate)
    assert encoded["input_ids"] == expected, f"\nours:  {template.render(sample, generate)!r}\njinja: {text!r}"
    if generate:
        assert encoded["labels"] is None
        return
    trained = tok.decode([t for t, lab in zip(encoded["input_ids"], encoded["labels"]) if lab != -100])
    for answer in answers(kind):
        assert answer.strip() in trained
    assert USER1 not in trained and USER2 not in trained
