"""internvl_hf on a tiny random InternVL (-hf) checkpoint (tiny_internvl.py) in the multimodal venv: the template
against the family's processor and the -hf chat template token for token, MAX_NUM and VIDEO_SEGMENTS reaching
the processor, LoRA trained on batches of 2 rows and reloaded with identical logits, infer and deploy."""

from __future__ import annotations

import json

import pytest
from mm_helpers import (
    MARKS,
    build_tiny,
    check_deploy_answers,
    check_infer,
    check_lora_round_trip,
    check_template_parity,
    weights,
    run,
)

pytestmark = MARKS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("internvl_hf", tmp_path_factory.mktemp("internvl") / "internvl3-tiny-hf")


def test_the_template_is_the_family_processor_token_for_token(tiny):
    result = check_template_parity(tiny, "internvl_hf")
    assert result["labelled"] == "red<|im_end|>"
    assert result["prompts"][0]["keys"] == ["pixel_values"]


COUNT = """
import json, sys
from swiftk.api import get_template, load_model_and_processor
from swiftk.cli.builtin import resolve_arguments
from PIL import Image
args = resolve_arguments("infer", ["--model", sys.argv[1]])
_, processor, info = load_model_and_processor(args, load_model=False)
template = get_template(args, processor, info, mode="infer")
context = processor.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
frames = [Image.new("RGB", (40, 30), (30 * i, 0, 0)) for i in range(8)]
rows = {"image": {"messages": [{"role": "user", "content": "<image>Colour?"}], "images": [Image.new("RGB", (100, 40))]},
        "video": {"messages": [{"role": "user", "content": "<video>Colour?"}], "videos": [frames]}}
print(json.dumps({k: template.encode(r, add_generation_prompt=True)["input_ids"].count(context) for k, r in rows.items()}))
"""


def test_max_num_and_video_segments_reach_the_processor(tiny):
    counts = {}
    for name, extra in (("default", {}), ("set", {"MAX_NUM": "1", "VIDEO_SEGMENTS": "3"})):
        proc = run("-c", COUNT, tiny, extra_env=extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
        counts[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    # 4 tokens a tile: 100x40 is 2 tiles and a thumbnail by default, 1 tile with MAX_NUM=1; 8 frames, or 3
    assert counts == {"default": {"image": 12, "video": 32}, "set": {"image": 4, "video": 12}}, counts


def test_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    ckpt = check_lora_round_trip(tiny, colours, tmp_path, "--per_device_train_batch_size", "2")
    lora = [k for k in weights(ckpt) if "lora_" in k]  # --freeze_vit true: the LLM only
    assert lora and all(".language_model." in k for k in lora), [k for k in lora if ".language_model." not in k][:5]
    check_infer(ckpt, colours, tmp_path)


def test_deploy_answers_openai_image_parts(tiny, colours):
    check_deploy_answers(tiny, colours)
