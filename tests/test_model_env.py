"""Model-specific parameters: --model_kwargs, then the environment, then the default."""

from __future__ import annotations

import pytest

from swiftk.arguments import model_env
from swiftk.arguments.model_env import get_model_arg, set_model_kwargs, unused_model_kwargs, used_model_args
from swiftk.errors import UsageError


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    for name in ("FPS_MAX_FRAMES", "MAX_PIXELS", "INIT_TTS", "FPS"):
        monkeypatch.delenv(name, raising=False)
    set_model_kwargs(None)
    yield
    set_model_kwargs(None)


def test_default():
    assert get_model_arg("FPS_MAX_FRAMES", 768) == 768
    assert get_model_arg("fps", 2.0) == 2.0


def test_environment(monkeypatch):
    monkeypatch.setenv("FPS_MAX_FRAMES", "12")
    assert get_model_arg("fps_max_frames", 768) == 12
    monkeypatch.setenv("INIT_TTS", "true")
    assert get_model_arg("INIT_TTS", False) is True
    monkeypatch.setenv("FPS", "1")
    assert get_model_arg("FPS", 2.0) == 1.0 and isinstance(get_model_arg("FPS", 2.0), float)


def test_model_kwargs_win_over_environment(monkeypatch):
    monkeypatch.setenv("FPS_MAX_FRAMES", "12")
    set_model_kwargs('{"fps_max_frames": 24}')
    assert get_model_arg("FPS_MAX_FRAMES", 768) == 24
    assert get_model_arg("FPS_MAX_FRAMES", 768, model_kwargs={"FPS_MAX_FRAMES": "48"}) == 48


def test_explicit_type_and_json(monkeypatch):
    monkeypatch.setenv("MAX_PIXELS", "1003520")
    assert get_model_arg("MAX_PIXELS", type=int) == 1003520
    assert get_model_arg("MAX_PIXELS") == "1003520"
    set_model_kwargs({"layout": '{"a": 1}'})
    assert get_model_arg("layout", type=dict) == {"a": 1}


def test_bad_values_name_their_source(monkeypatch):
    monkeypatch.setenv("FPS_MAX_FRAMES", "many")
    with pytest.raises(UsageError, match="environment variable FPS_MAX_FRAMES must be an integer"):
        get_model_arg("FPS_MAX_FRAMES", 768)
    set_model_kwargs({"init_tts": "maybe"})
    with pytest.raises(UsageError, match="--model_kwargs init_tts must be true or false"):
        get_model_arg("INIT_TTS", False)
    with pytest.raises(UsageError, match="--model_kwargs must be a JSON object"):
        set_model_kwargs("[1, 2]")


def test_used_and_unused():
    set_model_kwargs({"fps_max_frames": 12, "typo_frames": 3})
    get_model_arg("FPS_MAX_FRAMES", 768)
    get_model_arg("MAX_PIXELS", 100)
    assert used_model_args() == {"FPS_MAX_FRAMES": 12, "MAX_PIXELS": 100}
    assert unused_model_kwargs() == ["typo_frames"]
    assert model_env.get_model_kwargs() == {"fps_max_frames": 12, "typo_frames": 3}
