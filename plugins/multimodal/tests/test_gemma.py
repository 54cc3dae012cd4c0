"""gemma3_vision and paligemma on tiny random checkpoints (tiny_gemma.py), in the multimodal venv: the templates
against the families' processors (Gemma 3: with its official chat template; PaliGemma, not a chat model: with
the prompt its processor builds from the query, and the answer as its ``suffix``), LoRA trained, merged and
reloaded with identical logits, infer over a dataset of images, deploy answering OpenAI image parts."""

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
)

pytestmark = MARKS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("gemma")
    names = {"gemma3_vision": "gemma-3-4b-it-tiny", "paligemma": "paligemma-3b-pt-224-tiny"}
    return {model_type: build_tiny(model_type, root / name) for model_type, name in names.items()}


PARITY = """
import json, sys
sys.path.insert(0, sys.argv[2])
import torch
from mm_checks import CONVERSATIONS, images
from swiftk.api import get_template, load_model_and_processor
from swiftk.cli.builtin import resolve_arguments

args = resolve_arguments('infer', ['--model', sys.argv[1]])
_, processor, info = load_model_and_processor(args, load_model=False)
template = get_template(args, processor, info, mode='infer')
train = get_template(args, processor, info, mode='train')
media = images()
decode = template.tokenizer.decode


def same(ours, theirs):
    keys = [k for k in theirs if k not in ('input_ids', 'attention_mask', 'labels')]
    ours = {k: torch.as_tensor(ours[k]) for k in keys if k in ours}
    return {k: k in ours and ours[k].numel() == v.numel() and torch.equal(ours[k].reshape(v.shape), v)
            for k, v in theirs.items() if k in keys}


out = {'model_type': info.model_type, 'prompts': []}
if info.model_type == 'gemma3_vision':
    for row, hf in CONVERSATIONS:
        ours = template.encode({**row, 'images': [media[i] for i in row['images']]}, add_generation_prompt=True)
        text = processor.apply_chat_template(hf, add_generation_prompt=True, tokenize=False)
        # the rendered text holds <bos>: the processor adds none (as apply_chat_template(tokenize=True) calls it)
        theirs = processor(text=[text], images=[media[i] for i in row['images']], return_tensors='pt',
                           add_special_tokens=False)
        ids = theirs['input_ids'][0].tolist()
        out['prompts'].append({'ids': ours['input_ids'] == ids, 'media': same(ours, theirs),
                               'ours': decode(ours['input_ids']), 'theirs': decode(ids)})
    row = {'messages': [{'role': 'user', 'content': '<image>Colour?'}, {'role': 'assistant', 'content': 'red'}],
           'images': [media[0]]}
    encoded = train.encode(row)
    out['labelled'] = decode([t for t, l in zip(encoded['input_ids'], encoded['labels']) if l != -100])
else:  # paligemma: the processor builds the prompt from the query, and the training row with the answer as suffix
    ours = template.encode({'messages': [{'role': 'user', 'content': '<image>What is it?'}], 'images': [media[0]]},
                           add_generation_prompt=True)
    theirs = processor(text=['What is it?'], images=[media[0]], return_tensors='pt')
    out['prompts'].append({'ids': ours['input_ids'] == theirs['input_ids'][0].tolist(), 'media': same(ours, theirs)})
    row = {'messages': [{'role': 'user', 'content': 'What is it?'}, {'role': 'assistant', 'content': 'red'}],
           'images': [media[0]]}
    encoded = train.encode(row)
    theirs = processor(text=['What is it?'], images=[media[0]], suffix=['red'], return_tensors='pt')
    out['train'] = {'ids': encoded['input_ids'] == theirs['input_ids'][0].tolist(),
                    'labels': encoded['labels'] == theirs['labels'][0].tolist(), 'media': same(encoded, theirs)}
    out['labelled'] = decode([t for t, l in zip(encoded['input_ids'], encoded['labels']) if l != -100])
    two = template.encode({'messages': [{'role': 'user', 'content': '<image><image>Two?'}], 'images': media[:2]},
                          add_generation_prompt=True)
    out['two'] = decode(two['input_ids'])
    out['pixel_values'] = list(two['pixel_values'].shape)
    try:
        template.encode({'messages': [{'role': 'user', 'content': '<image>Hi'}, {'role': 'assistant', 'content': 'a'},
                                      {'role': 'user', 'content': 'And?'}], 'images': [media[0]]})
        out['multi_round'] = 'accepted'
    except ValueError as exc:
        out['multi_round'] = str(exc)
print(json.dumps(out))
"""


def parity(folder) -> dict:
    proc = run("-c", PARITY, folder, HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gemma3_template_is_the_processor_and_official_template_token_for_token(tiny):
    result = parity(tiny["gemma3_vision"])
    assert result["model_type"] == "gemma3_vision"
    prompts = result["prompts"]
    assert all(set(p["media"]) == {"pixel_values", "token_type_ids"} for p in prompts)
    assert all(prompts[i]["media"]["pixel_values"] and prompts[i]["media"]["token_type_ids"] for i in (0, 2))
    assert prompts[1]["media"]["pixel_values"]
    assert prompts[0]["ids"] and prompts[2]["ids"], prompts  # one image; an untagged image in a multi-turn chat
    # "Compare <image> and <image>, please.": the official template trims each text part, ms-swift keeps the spaces
    compare = prompts[1]
    assert not compare["ids"] and compare["ours"].replace(" ", "") == compare["theirs"].replace(" ", ""), compare
    assert "Compare \n\n<start_of_image>" in compare["ours"] and "Be brief.\n\nCompare" in compare["ours"]
    assert result["labelled"] == "red<end_of_turn>\n"


def test_paligemma_template_is_the_processor_prompt_token_for_token(tiny):
    result = parity(tiny["paligemma"])
    assert result["model_type"] == "paligemma"
    assert result["prompts"][0]["ids"] and all(result["prompts"][0]["media"].values()), result
    assert set(result["prompts"][0]["media"]) == {"pixel_values", "token_type_ids"}
    assert all(result["train"]["media"].values()) and result["train"]["ids"] and result["train"]["labels"], result
    assert result["labelled"] == "red<eos>"
    # ms-swift's form for several images: <image> * image_seq_length + <bos> for each
    assert result["two"] == ("<image>" * 16 + "<bos>") * 2 + "Two?\n" and result["pixel_values"][0] == 2
    assert "takes one round" in result["multi_round"]


def test_gemma3_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    ckpt = check_lora_round_trip(tiny["gemma3_vision"], colours, tmp_path)
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert all(".language_model." in m for m in config["target_modules"])  # --freeze_vit true: the LLM only
    check_infer(ckpt, colours, tmp_path)


PALIGEMMA_LOGITS = """
import sys, torch
from peft import PeftModel
from transformers import AutoModelForImageTextToText, AutoProcessor
from PIL import Image
base, ckpt, merged, image = sys.argv[1:5]
processor = AutoProcessor.from_pretrained(merged)
inputs = processor(text=['Colour?'], images=[Image.open(image).convert('RGB')], return_tensors='pt')
inputs.pop('labels')
cls = AutoModelForImageTextToText
logits = {}
for name, load in (('base', lambda: cls.from_pretrained(base)),
                   ('adapter', lambda: PeftModel.from_pretrained(cls.from_pretrained(base), ckpt)),
                   ('merged', lambda: cls.from_pretrained(merged))):
    with torch.no_grad():
        logits[name] = load().eval()(**inputs).logits
print(float((logits['adapter'] - logits['merged']).abs().max()), float((logits['adapter'] - logits['base']).abs().max()))
"""


def test_paligemma_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    out = tmp_path / "lora"
    swiftk("sft", "--model", tiny["paligemma"], "--dataset", colours / "colours.jsonl", "--max_steps", "3",
           "--save_steps", "3", "--learning_rate", "1e-2", "--output_dir", out, "--add_version", "false")  # fmt: skip
    ckpt = out / "checkpoint-3"
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert config["target_modules"] and all(".language_model." in m for m in config["target_modules"]), config
    merged = tmp_path / "merged"
    swiftk("export", "--adapters", ckpt, "--merge_lora", "true", "--output_dir", merged)
    proc = run("-c", PALIGEMMA_LOGITS, tiny["paligemma"], ckpt, merged, colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    to_merged, to_base = map(float, proc.stdout.split())
    assert to_merged < 1e-4 and to_base > 1e-3, (to_merged, to_base)
    check_infer(ckpt, colours, tmp_path)


@pytest.mark.parametrize("model_type", ["gemma3_vision", "paligemma"])
def test_deploy_answers_openai_image_parts(tiny, colours, model_type):
    check_deploy_answers(tiny[model_type], colours)
