"""llama3_2_vision on a tiny random Mllama checkpoint (tiny_mllama.py) in the multimodal venv: the template
against the family's processor and official chat template token for token (without the system prompt beside
images, which the official template refuses), the cross-attention mask and the per-image tensors of rows of
different lengths padded together (LoRA trained on batches of 2 rows, reloaded with identical logits), infer
and deploy answering images."""

from __future__ import annotations

import json

import pytest
from mm_helpers import (
    MARKS,
    build_tiny,
    check_deploy_answers,
    check_infer,
    check_lora_round_trip,
    run,
    weights,
)
from test_idefics import parity

pytestmark = MARKS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("llama3_2_vision", tmp_path_factory.mktemp("mllama") / "llama-3.2-vision-tiny")


def test_the_template_is_the_family_processor_token_for_token(tiny):
    result = parity(tiny, "llama3_2_vision", "MllamaProcessor", drop_system=True)
    assert result["labelled"] == "red<|eot_id|>"
    assert result["prompts"][0]["keys"] == [
        "aspect_ratio_ids",
        "aspect_ratio_mask",
        "cross_attention_mask",
        "pixel_values",
    ]


HEAD = """
import json, sys
from swiftk.api import get_template, load_model_and_processor
from swiftk.cli.builtin import resolve_arguments
args = resolve_arguments("infer", ["--model", sys.argv[1]])
_, processor, info = load_model_and_processor(args, load_model=False)
template = get_template(args, processor, info, mode="infer")
out = []
for system in (None, "Be brief."):
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": "Hi"}]
    ours = template.encode({"messages": messages}, add_generation_prompt=True)["input_ids"]
    theirs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    theirs = theirs["input_ids"] if isinstance(theirs, dict) else theirs
    out.append(ours == (theirs[0] if isinstance(theirs[0], list) else theirs))
with_both = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<image>Hi"}],
             "images": [sys.argv[2]]}
out.append(template.tokenizer.decode(template.encode(with_both, add_generation_prompt=True)["input_ids"]))
print(json.dumps(out))
"""


def test_the_system_turn_without_images_and_beside_them(tiny, colours):
    """Without images: the official system turn (cut-off, today's date, the prompt), token for token; with
    images and a system prompt (which the official template refuses): ms-swift's system turn."""
    proc = run("-c", HEAD, tiny, colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    plain, with_system, both = json.loads(proc.stdout.strip().splitlines()[-1])
    assert plain and with_system
    assert both.startswith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date")
    assert "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<|image|>Hi" in both


BATCH = """
import json, sys, torch
from swiftk.api import get_template, load_model_and_processor
from swiftk.cli.builtin import resolve_arguments
from PIL import Image
folder, red, blue = sys.argv[1:4]
args = resolve_arguments("infer", ["--model", folder])
model, processor, info = load_model_and_processor(args)
out = {}
for mode in ("train", "infer"):
    template = get_template(args, processor, info, mode=mode)
    rows = [
        {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"}],
         "images": [red]},
        {"messages": [{"role": "user", "content": "Compare <image> with <image>, in a few words please."},
                      {"role": "assistant", "content": "blue"}], "images": [blue, red]},
        {"messages": [{"role": "user", "content": "No picture here."}, {"role": "assistant", "content": "ok"}]},
    ]
    encoded = [template.encode(r) for r in rows]
    batch = template.data_collator(encoded)
    shapes = {k: list(v.shape) for k, v in batch.items() if hasattr(v, "shape")}
    # each row's mask, unpadded, is the processor's own
    same = []
    for k, e in enumerate(encoded):
        mask = batch["cross_attention_mask"][k]
        n = len(e["input_ids"])
        rows_of = mask[-n:] if mode == "infer" else mask[:n]
        own = torch.as_tensor(e["cross_attention_mask"])[0] if "cross_attention_mask" in e else torch.zeros(0)
        same.append(bool(torch.equal(rows_of[:, : own.shape[1]], own)) if own.numel() else bool(rows_of.sum() == 0))
    with torch.no_grad():
        loss = model(**{k: v for k, v in batch.items() if k not in ("length", "loss_scale")}).loss if mode == "train" else None
    out[mode] = {"shapes": shapes, "same": same, "loss": None if loss is None else float(loss)}
print(json.dumps(out))
"""


def test_a_batch_pads_the_cross_attention_mask_and_the_images(tiny, colours):
    proc = run("-c", BATCH, tiny, colours / "red.png", colours / "blue.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for mode in ("train", "infer"):
        shapes, width = out[mode]["shapes"], out[mode]["shapes"]["input_ids"][1]
        assert shapes["cross_attention_mask"] == [3, width, 2, 4], shapes  # rows, tokens, images, tiles
        assert shapes["pixel_values"][:3] == [3, 2, 4] and shapes["aspect_ratio_ids"] == [3, 2], shapes
        assert all(out[mode]["same"]), out
    assert out["train"]["loss"] > 0


def test_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    ckpt = check_lora_round_trip(tiny, colours, tmp_path, "--per_device_train_batch_size", "2")
    lora = [k for k in weights(ckpt) if "lora_" in k]  # --freeze_vit true: the LLM only
    assert lora and all(".language_model." in k for k in lora), [k for k in lora if ".language_model." not in k][:5]
    check_infer(ckpt, colours, tmp_path)


def test_deploy_answers_openai_image_parts(tiny, colours):
    check_deploy_answers(tiny, colours)
