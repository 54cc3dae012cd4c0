"""Fixtures shared by the multimodal family tests (each runs its CLI in .venv-mm through mm_helpers)."""

from __future__ import annotations

import pytest
from mm_helpers import make_colours


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    """Red and blue pictures and colours.jsonl asking their colour (test_audio.py overrides it with tones)."""
    return make_colours(tmp_path_factory.mktemp("data"))
