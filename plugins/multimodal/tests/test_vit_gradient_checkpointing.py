"""--vit_gradient_checkpointing (later ms-swift) on a tiny Qwen2-VL, all of it trained: the vision tower's blocks
are checkpointed (their forward runs again in the backward pass) as the flag says, the language model's as
--gradient_checkpointing says; unset, the tower follows --gradient_checkpointing.  A text-only model accepts it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mm_helpers import MARKS, build_tiny, swiftk

COUNTER = '''
import json, os, re, swiftk

LOG = os.environ["VIT_GC_LOG"]
BLOCK = re.compile(r"[.](blocks|layers)[.][0-9]+$")


def _counter(part, block):
    def hook(module, args):  # each forward of a block's MLP: the first pass and the recomputation, if any
        if module.training:
            with open(LOG, "a") as f:
                f.write(json.dumps([part, bool(getattr(block, "gradient_checkpointing", False))]) + "\\n")
    return hook


@swiftk.hookimpl
def post_model_load(args, model, processor):
    for name, block in model.named_modules():
        if BLOCK.search(name):
            block.mlp.register_forward_pre_hook(_counter("vision" if "visual" in name else "llm", block))
'''


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny("qwen2_vl", tmp_path_factory.mktemp("vlm") / "qwen2-vl-tiny")


@pytest.mark.parametrize(
    "everywhere, vit, expected",
    [("true", None, (True, True)), ("true", "false", (True, False)), ("false", "true", (False, True))],
    ids=["unset-follows", "llm-only", "vit-only"],
)
@MARKS[0]
@MARKS[1]
def test_the_vision_tower_is_checkpointed_as_the_flag_says(tiny, colours, tmp_path, everywhere, vit, expected):
    plugin, log = tmp_path / "count_blocks.py", tmp_path / "passes.jsonl"
    plugin.write_text(COUNTER)
    flags = ["--gradient_checkpointing", everywhere] + (["--vit_gradient_checkpointing", vit] if vit else [])
    swiftk("sft", "--model", tiny, "--dataset", colours / "colours.jsonl", "--train_type", "full",
           "--freeze_vit", "false", "--max_steps", "1", "--per_device_train_batch_size", "1",
           "--gradient_accumulation_steps", "1", "--split_dataset_ratio", "0", "--save_strategy", "no",
           "--external_plugins", plugin, "--output_dir", tmp_path / "out", "--add_version", "false", *flags,
           extra_env={"VIT_GC_LOG": str(log)})  # fmt: skip
    passes = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    llm_on, vision_on = expected
    vision = [on for part, on in passes if part == "vision"]
    llm = [on for part, on in passes if part == "llm"]
    assert vision and llm, passes
    assert set(vision) == {vision_on} and set(llm) == {llm_on}, passes  # each block's switch
    # two blocks in each tower, one batch: a checkpointed block runs its forward twice, once in the backward pass
    assert len(vision) == 2 * (2 if vision_on else 1), passes
    assert len(llm) == 2 * (2 if llm_on else 1), passes


def test_a_text_only_model_accepts_it_without_effect():
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", "sft", "--model", "swiftk/tiny-chat", "--vit_gradient_checkpointing", "false",
         "--print_args"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    args = json.loads(proc.stdout)
    assert args["vit_gradient_checkpointing"] is False and args["gradient_checkpointing"] is True


def test_on_a_text_only_model_nothing_changes():
    from types import SimpleNamespace

    from transformers import Qwen2Config, Qwen2ForCausalLM

    from swiftk_sft.vit_checkpointing import apply_vit_gradient_checkpointing

    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1))  # fmt: skip
    model.model_meta = SimpleNamespace(model_type="qwen2", is_multimodal=False, extra={})
    trainer = SimpleNamespace(model=model, args=SimpleNamespace(activation_checkpointing=True))
    args = {"gradient_checkpointing": True, "vit_gradient_checkpointing": False}
    apply_vit_gradient_checkpointing(SimpleNamespace(get=args.get), trainer)
    assert trainer.args.activation_checkpointing is True  # the Trainer checkpoints the model as without the flag
    assert not any(getattr(m, "gradient_checkpointing", False) for m in model.modules())
