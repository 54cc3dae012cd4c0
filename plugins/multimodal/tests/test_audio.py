"""qwen2_audio on a tiny random Qwen2-Audio checkpoint (tiny_audio.py), in the multimodal venv: the template
against the family's processor and chat template token for token (``Audio N:`` numbering, the ``<|AUDIO|>``
expansion, the Whisper features), LoRA trained, merged and reloaded with identical logits on an audio input,
infer over a dataset of .wav files, deploy answering an OpenAI ``input_audio`` part, SAMPLING_RATE refused
when the feature extractor cannot take it."""

from __future__ import annotations

import json

import pytest
from mm_helpers import (
    HERE,
    MARKS,
    build_tiny,
    check_deploy_answers,
    check_infer,
    check_template_parity,
    make_colours,
    run,
    swiftk,
)

pytestmark = MARKS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("qwen2_audio", tmp_path_factory.mktemp("audio") / "qwen2-audio-tiny")


@pytest.fixture(scope="module")
def colours(tmp_path_factory):
    return make_colours(tmp_path_factory.mktemp("data"), "audio")


def test_the_template_is_the_family_processor_token_for_token(tiny):
    result = check_template_parity(tiny, "qwen2_audio", medium="audio")
    assert result["labelled"] == "red<|im_end|>"
    assert result["prompts"][0]["keys"] == ["feature_attention_mask", "input_features"]


NUMBERED = """
import sys
from swiftk.api import get_template, load_model_and_processor
from swiftk.cli.builtin import resolve_arguments
args = resolve_arguments('infer', ['--model', sys.argv[1]] + sys.argv[2:])
_, processor, info = load_model_and_processor(args, load_model=False)
template = get_template(args, processor, info, mode='infer')
row = {'messages': [{'role': 'user', 'content': '<audio>A<audio>B'}], 'audios': [sys.argv[1] + '/../red.wav'] * 2}
segments = [template._with_placeholders(s) for s in template.render_segments(row, True)]
template._audio_index = 0
print(repr(''.join(s.content for s in segments if s.is_text)))
"""


def test_placeholders_are_numbered_as_ms_swift_does(tiny):
    proc = run("-c", NUMBERED, tiny)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout.strip().splitlines()[-1]
    assert "Audio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\\nAAudio 2: <|audio_bos|><|AUDIO|><|audio_eos|>\\nB" in text


LOGITS = """
import sys, torch
from peft import PeftModel
from transformers import AutoProcessor, Qwen2AudioForConditionalGeneration
from swiftk_multimodal.media import load_audio
base, ckpt, merged, audio = sys.argv[1:5]
processor = AutoProcessor.from_pretrained(merged)
messages = [{'role': 'user', 'content': [{'type': 'audio'}, {'type': 'text', 'text': 'Colour?'}]}]
text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
rate = processor.feature_extractor.sampling_rate
inputs = processor(text=[text], audio=[load_audio(audio, rate)], sampling_rate=rate, return_tensors='pt')
cls = Qwen2AudioForConditionalGeneration
logits = {}
for name, load in (('base', lambda: cls.from_pretrained(base)),
                   ('adapter', lambda: PeftModel.from_pretrained(cls.from_pretrained(base), ckpt)),
                   ('merged', lambda: cls.from_pretrained(merged))):
    with torch.no_grad():
        logits[name] = load().eval()(**inputs).logits
print(float((logits['adapter'] - logits['merged']).abs().max()), float((logits['adapter'] - logits['base']).abs().max()))
"""


def test_lora_trains_reloads_with_identical_logits_and_answers_audio(tiny, colours, tmp_path):
    out = tmp_path / "lora"
    swiftk("sft", "--model", tiny, "--dataset", colours / "colours.jsonl", "--max_steps", "3", "--save_steps", "3",
           "--learning_rate", "1e-2", "--output_dir", out, "--add_version", "false")  # fmt: skip
    ckpt = out / "checkpoint-3"
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert config["target_modules"], config
    # --freeze_vit true (the default): the audio tower is left alone, the LLM takes the adapter
    assert all(".audio_tower." not in m for m in config["target_modules"]), config["target_modules"]
    merged = tmp_path / "merged"
    swiftk("export", "--adapters", ckpt, "--merge_lora", "true", "--output_dir", merged)
    proc = run("-c", LOGITS, tiny, ckpt, merged, colours / "red.wav")
    assert proc.returncode == 0, proc.stderr[-3000:]
    to_merged, to_base = map(float, proc.stdout.split())
    assert to_merged < 1e-4 and to_base > 1e-3, (to_merged, to_base)
    lines = check_infer(ckpt, colours, tmp_path, medium="audio")
    first = lines[0]["messages"][0]["content"]
    assert any(isinstance(p, dict) and p.get("type") != "text" for p in first), first  # the audio is kept


def test_deploy_answers_openai_input_audio_parts(tiny, colours):
    check_deploy_answers(tiny, colours, medium="audio")


def test_a_sampling_rate_the_feature_extractor_cannot_take_is_refused(tiny, colours, tmp_path):
    proc = run("-m", "swiftk", "infer", "--model", tiny, "--val_dataset", colours / "colours.jsonl",
               "--max_new_tokens", "2", "--result_path", tmp_path / "a.jsonl", extra_env={"SAMPLING_RATE": "8000"})  # fmt: skip
    assert proc.returncode != 0
    assert "SAMPLING_RATE=8000" in proc.stderr, proc.stderr[-3000:]


def test_mp3_flac_ogg_m4a_and_wav_at_another_rate_load_as_the_same_tone(tmp_path):
    """Audio beyond 16 kHz WAV (what ms-swift's librosa reads): each file, decoded and resampled by FFmpeg to the
    family's 16 kHz, is one second of the 440 Hz tone it was encoded from (aac pads its priming frames)."""
    proc = run(HERE / "mm_checks.py", "audio_formats", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result) == {"tone.mp3", "tone.flac", "tone.ogg", "tone.m4a", "tone44k.wav"}
    for name, loaded in result.items():
        assert loaded["peak_hz"] == 440 and 0.99 <= loaded["seconds"] <= 1.1, (name, loaded)
    (tmp_path / "notes.txt").write_text("not audio")
    code = (
        "import sys; from swiftk_multimodal.media import load_audio, MediaError\n"
        "try:\n    load_audio(sys.argv[1])\nexcept MediaError as e:\n    print(e)"
    )
    proc = run("-c", code, tmp_path / "notes.txt")
    assert "an audio file that FFmpeg cannot read" in proc.stdout, proc.stdout + proc.stderr[-2000:]
