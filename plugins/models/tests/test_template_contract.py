"""The template contract suite (swiftk.testing.templates) on built-in templates of several families."""

from __future__ import annotations

import importlib.util

import pytest

from swiftk.testing.templates import TemplateContract


class TestChatml(TemplateContract):
    template = "chatml"


class TestQwen(TemplateContract):
    template = "qwen"


class TestQwen25(TemplateContract):
    template = "qwen2_5"


class TestQwen3(TemplateContract):
    template = "qwen3"  # a thinking template: the last answer carries a <think> block


class TestQwq(TemplateContract):
    template = "qwq"  # the generation prompt opens <think>


class TestLlama(TemplateContract):
    template = "llama"  # Llama 2: system inside the first [INST], the answer's leading space trained


class TestLlama3(TemplateContract):
    template = "llama3"


class TestLlama31(TemplateContract):
    template = "llama3_1"


class TestMistral(TemplateContract):
    template = "mistral"


class TestGemma(TemplateContract):
    template = "gemma"


class TestPhi3(TemplateContract):
    template = "phi3"


class TestDeepseekV25(TemplateContract):
    template = "deepseek_v2_5"


class TestGlm4(TemplateContract):
    template = "glm4"  # answers end where the next <|user|> turn begins


class TestBaichuan(TemplateContract):
    template = "baichuan"


@pytest.mark.skipif(importlib.util.find_spec("swiftk_demo") is None, reason="swift-plugin-demo is not installed")
class TestTinyChat(TemplateContract):
    template = "tiny_chat"  # the demo model's template, on the demo model's own tokenizer
