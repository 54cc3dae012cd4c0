"""The LLaVA families (swiftk_multimodal/families/llava.py) on tiny random checkpoints (tiny_llava.py) of
llava1_5_hf, llava1_6_mistral_hf and llava_onevision_hf, in the multimodal venv: the template against the
family's processor and beside its own chat template, LoRA trained and reloaded with identical logits (through
training's evaluation loop), infer and deploy answering images, and --freeze_vit in full training."""

from __future__ import annotations

import json

import pytest
from mm_helpers import (
    HERE,
    MARKS,
    build_tiny,
    check_deploy_answers,
    check_infer,
    check_lora_round_trip,
    run,
    swiftk,
    weights,
)

pytestmark = MARKS

NAMES = {
    "llava1_5_hf": "llava-1.5-tiny",
    "llava1_6_mistral_hf": "llava-v1.6-mistral-tiny",
    "llava_onevision_hf": "llava-onevision-tiny",
}
#: the first conversation (one image, then the question) as our template writes it and as the checkpoint's chat
#: template does (each image's tokens written once): ms-swift's templates are not the llava-hf ones
FIRST = {
    "llava1_5_hf": (
        "<s>USER: <image>\nWhat is it?\nASSISTANT:",
        "<s>USER: <image>\nWhat is it? ASSISTANT:",
    ),
    "llava1_6_mistral_hf": ("<s>[INST] <image>\nWhat is it? [/INST]",) * 2,
    "llava_onevision_hf": (
        "<|im_start|>user\n<image>\nWhat is it?<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user <image>\nWhat is it?<|im_end|><|im_start|>assistant\n",
    ),
}
KEYS = {
    "llava1_5_hf": ["pixel_values"],
    "llava1_6_mistral_hf": ["image_sizes", "pixel_values"],
    "llava_onevision_hf": ["batch_num_images", "image_sizes", "pixel_values"],
}
END = {"llava1_5_hf": "</s>", "llava1_6_mistral_hf": "</s>", "llava_onevision_hf": "<|im_end|>"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("llava")
    return {model_type: build_tiny(model_type, root / name) for model_type, name in NAMES.items()}


@pytest.mark.parametrize("model_type", list(NAMES))
def test_the_template_expands_images_as_the_family_processor_does(tiny, model_type):
    proc = run(HERE / "tiny_llava.py", "parity", tiny[model_type])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["model_type"] == model_type
    assert result["labelled"] == "red" + END[model_type]  # the loss falls on the answer only
    for prompt in result["prompts"]:  # the same ids and pixels as the processor makes of the same text
        assert prompt["ids"] and prompt["media"], prompt
        assert prompt["keys"] == KEYS[model_type]
        # as many image tokens as the checkpoint's own chat template gives the same images
        assert prompt["image_tokens"] == prompt["official_image_tokens"] > 0, prompt
    first = result["prompts"][0]
    assert (first["ours"], first["official"]) == FIRST[model_type]
    # each tag stays where it stands (ms-swift); the chat templates move every image before the text
    assert "Compare <image>\n and <image>\n, please." in result["prompts"][1]["ours"]


@pytest.mark.parametrize("model_type", ["llava1_6_mistral_hf", "llava_onevision_hf"])
def test_a_batch_of_images_with_different_tile_counts_gives_each_row_its_own_logits(tiny, model_type):
    # the processors pad a batch's tiles with zeros (cut back by image_sizes): the collator does the same
    proc = run(HERE / "tiny_llava.py", "batched", tiny[model_type])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert max(json.loads(proc.stdout.strip().splitlines()[-1])) < 1e-5


@pytest.mark.parametrize("model_type", list(NAMES))
def test_lora_trains_through_evaluation_reloads_and_answers(tiny, colours, tmp_path, model_type):
    # the default --split_dataset_ratio keeps an evaluation set: its loop gathers the model's outputs, which
    # carry the vision tower's (image_outputs) since transformers 5; the trainer leaves those out
    ckpt = check_lora_round_trip(tiny[model_type], colours, tmp_path)
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert all(m.startswith("model.language_model.") for m in config["target_modules"])  # the LLM only
    logged = [json.loads(line) for line in (ckpt.parent / "logging.jsonl").read_text().splitlines()]
    assert any("eval_loss" in line for line in logged), logged[-3:]
    lines = check_infer(ckpt, colours, tmp_path)
    assert lines[0]["messages"][0]["content"][0]["type"] == "image_url"


@pytest.mark.parametrize("model_type", list(NAMES))
def test_deploy_answers_openai_image_parts(tiny, colours, model_type):
    check_deploy_answers(tiny[model_type], colours)


def test_full_training_freezes_the_vision_tower_as_the_flags_say(tiny, colours, tmp_path):
    base = weights(tiny["llava1_5_hf"])
    common = ["--model", tiny["llava1_5_hf"], "--dataset", colours / "colours.jsonl", "--train_type", "full"]
    common += ["--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-2", "--add_version", "false"]
    for freeze in ("true", "false"):
        out = tmp_path / f"vit-{freeze}"
        swiftk("sft", *common, "--freeze_vit", freeze, "--output_dir", out)
        after = weights(out / "checkpoint-2")
        changed = {k for k in base if abs(after[k] - base[k]) > 1e-6}
        # saved in the checkpoints' own layout: vision_tower.*, multi_modal_projector.*, language_model.model.*
        vision = {k for k in changed if k.startswith("vision_tower.")}
        aligner = {k for k in changed if k.startswith("multi_modal_projector.")}
        llm = {k for k in changed if k.startswith("language_model.model.layers.")}
        assert llm, "the LLM trains"
        assert not aligner, sorted(aligner)  # --freeze_aligner true (the default)
        assert bool(vision) == (freeze == "false"), sorted(vision)[:5]


REGISTERED = {  # ms-swift 3.2.2's model types -> its template, the class transformers loads
    "llava1_5_hf": ("llava1_5_hf", "LlavaForConditionalGeneration"),
    "llava_llama3_hf": ("llava_llama3_hf", "LlavaForConditionalGeneration"),
    "llava1_6_mistral_hf": ("llava1_6_mistral_hf", "LlavaNextForConditionalGeneration"),
    "llava1_6_vicuna_hf": ("llava1_6_vicuna_hf", "LlavaNextForConditionalGeneration"),
    "llava1_6_yi_hf": ("llava1_6_yi_hf", "LlavaNextForConditionalGeneration"),
    "llama3_llava_next_hf": ("llama3_llava_next_hf", "LlavaNextForConditionalGeneration"),
    "llava_next_qwen_hf": ("llava_next_qwen_hf", "LlavaNextForConditionalGeneration"),
    "llava_llama3_1_hf": ("llava_llama3_1_hf", "LlavaNextForConditionalGeneration"),
    "llava_onevision_hf": ("llava_onevision_hf", "LlavaOnevisionForConditionalGeneration"),
    "llava_next_video_hf": ("llava_next_video_hf", "LlavaNextVideoForConditionalGeneration"),
    "llava_next_video_yi_hf": ("llava_next_video_hf", "LlavaNextVideoForConditionalGeneration"),
}

REGISTRY = """
import json, sys
from swiftk.api import get_host
host = get_host()
out = {}
for model_type in json.loads(sys.argv[1]):
    meta = host.registry("models").entry_or_none(model_type).load()
    template = host.registry("templates").entry_or_none(meta.template).load()
    out[model_type] = [meta.template, meta.architectures[0], sorted(template.extra["placeholders"]),
                       sorted(template.extra["env"]), meta.extra["model_arch"]["vision_tower"]]
print(json.dumps(out))
"""


def test_every_llava_type_is_registered_with_its_template():
    proc = run("-c", REGISTRY, json.dumps(list(REGISTERED)))
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    for model_type, (template, arch) in REGISTERED.items():
        name, architecture, media, env, vision = found[model_type]
        assert (name, architecture, vision) == (template, arch, ["model.vision_tower"]), found[model_type]
        video = model_type.startswith("llava_next_video")
        assert media == (["image", "video"] if video else ["image"])
        assert env == (["NUM_FRAMES"] if video else [])
