"""The model-type contract suite (swiftk.testing.models) on built-in model types of several families,
each on a random tiny checkpoint in a folder named like the real model."""

from __future__ import annotations

import pytest

from swiftk.testing.models import ModelContract

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class TestQwen25(ModelContract):
    model_type = "qwen2_5"  # Qwen2ForCausalLM, shared with qwen2, qwq, ...: the folder name picks it


class TestLlama3(ModelContract):
    model_type = "llama3"  # LlamaForCausalLM, shared with llama, llama2, yi, ...


class TestGemma(ModelContract):
    model_type = "gemma"
