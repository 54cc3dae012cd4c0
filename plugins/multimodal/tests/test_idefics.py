"""idefics3 on a tiny random checkpoint (tiny_idefics.py) in the multimodal venv: the template against the
family's processor and official chat template token for token, LoRA trained (a batch of 2 rows with different
tile counts padded together) and reloaded with identical logits, infer and deploy answering images.

Idefics3's official chat template renders list contents only (a string content is dropped), so the parity
conversations are given to it in list form (``[{"type": "text", "text": ...}]``), which is what it reads."""

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
    weights,
)

pytestmark = MARKS

#: mm_checks.template_parity on its conversations with every message's content in list form; DROP_SYSTEM
#: also leaves out the system prompt of the conversation with two images (for templates that refuse one)
PARITY = """
import json, sys
sys.path.insert(0, sys.argv[2])
import mm_checks

def listed(messages):
    return [{**m, "content": [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]}
            for m in messages]

def no_system(row, hf):
    row = {**row, "messages": [m for m in row["messages"] if m["role"] != "system"]}
    return row, [m for m in hf if m["role"] != "system"]

conversations = mm_checks.CONVERSATIONS
if sys.argv[3] == "drop_system":
    conversations = [no_system(row, hf) for row, hf in conversations]
mm_checks.CONVERSATIONS = [(row, listed(hf)) for row, hf in conversations]
# the chat template writes the BOS: the processor must not add a second one (as apply_chat_template(tokenize=True))
import transformers
cls = getattr(transformers, sys.argv[4])
call = cls.__call__
cls.__call__ = lambda self, *a, **k: call(self, *a, **{"add_special_tokens": False, **k})
print(json.dumps(mm_checks.template_parity(sys.argv[1])))
"""


def parity(folder, model_type: str, processor: str, drop_system: bool = False) -> dict:
    """check_template_parity with list contents (and optionally no system prompt beside images), the
    processor (class name) called on the chat template's text without adding a BOS of its own."""
    proc = run("-c", PARITY, folder, HERE, "drop_system" if drop_system else "keep", processor)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["model_type"] == model_type
    assert all(p["ids"] and p["media"] for p in result["prompts"]), result
    full, bounded = result["max_pixels"]
    assert bounded <= full
    return result


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("idefics3", tmp_path_factory.mktemp("idefics") / "idefics3-tiny")


def test_the_template_is_the_family_processor_token_for_token(tiny):
    result = parity(tiny, "idefics3", "Idefics3Processor")
    assert result["labelled"] == " red<end_of_utterance>"  # the answer (its leading space) and the end of turn
    assert result["prompts"][0]["keys"] == ["pixel_attention_mask", "pixel_values"]


BATCH = """
import json, sys, torch
from swiftk.api import get_template, load_model_and_processor
from swiftk.cli.builtin import resolve_arguments
from PIL import Image
args = resolve_arguments("sft", ["--model", sys.argv[1]])
model, processor, info = load_model_and_processor(args)
template = get_template(args, processor, info, mode="train")
wide = Image.new("RGB", (100, 20), (0, 255, 0))
rows = [
    {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"}],
     "images": [sys.argv[2]]},
    {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "green"}],
     "images": [wide]},
    {"messages": [{"role": "user", "content": "No picture."}, {"role": "assistant", "content": "ok"}]},
]
encoded = [template.encode(r) for r in rows]
batch = template.data_collator(encoded)
with torch.no_grad():
    loss = model(**{k: v for k, v in batch.items() if k not in ("length", "loss_scale")}).loss
tiles = [None if "pixel_values" not in e else list(torch.as_tensor(e["pixel_values"]).shape)[1] for e in encoded]
print(json.dumps({"tiles": tiles, "pixel_values": list(batch["pixel_values"].shape), "loss": float(loss)}))
"""


def test_a_batch_pads_the_tiles_of_each_row(tiny, colours):
    proc = run("-c", BATCH, tiny, colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tiles"] == [5, 3, None], out  # 2x2 tiles and the global image; 1x2 and the global; none
    assert out["pixel_values"][:2] == [3, 5], out  # padded with all-zero images, which the model skips
    assert out["loss"] == out["loss"] and out["loss"] > 0  # finite


def test_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    # 2 rows a step (the default is 1)
    ckpt = check_lora_round_trip(tiny, colours, tmp_path, "--per_device_train_batch_size", "2")
    lora = [k for k in weights(ckpt) if "lora_" in k]  # --freeze_vit true: the LLM only
    assert lora and all(".text_model." in k for k in lora), [k for k in lora if ".text_model." not in k][:5]
    check_infer(ckpt, colours, tmp_path)


def test_deploy_answers_openai_image_parts(tiny, colours):
    check_deploy_answers(tiny, colours)
