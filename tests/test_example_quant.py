"""contrib/swiftk-example-quant: a third-party quantizer is selectable by ``--quant_method`` in
``swiftk export`` (the kernel's export pipeline: adapters merged first, the folder completed and moved
into place, args.json recording the quantizer's plugin) and at load time in ``swiftk infer``."""

from __future__ import annotations

import json
import os

import pytest

from kernel_support import CONTRIB, one_line_error, run_swiftk

KIT = CONTRIB / "swiftk-example-quant"
PLUGIN = str(KIT / "swiftk_example_quant" / "plugin.py")
ENV = {"PYTHONPATH": str(KIT), "OMP_NUM_THREADS": "1"}
ROWS = [{"messages": [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4"}]}]


def swiftk(*args):
    return run_swiftk(*args, "--custom_register_path", PLUGIN, env=ENV)


def _weights_dtypes(folder) -> set:
    from safetensors import safe_open

    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        return {str(f.get_slice(k).get_dtype()) for k in f.keys()}


def test_export_with_a_contrib_quantizer_and_reload_in_infer(tmp_path):
    out = tmp_path / "tiny-chat-half"
    result = swiftk("export", "--model", "swiftk/tiny-chat", "--quant_method", "half", "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"half model saved to {out}" in result.stdout
    assert _weights_dtypes(out) == {"F16"}
    names = set(os.listdir(out))
    assert {"config.json", "tokenizer.json", "tokenizer_config.json", "args.json"} <= names
    assert not any(n.endswith((".staging", ".old")) for n in os.listdir(tmp_path))
    record = json.loads((out / "args.json").read_text())
    assert record["quant_method"] == "half" and record["model_type"] == "tiny_chat"
    assert record["template"] and record["plugins"]["quantizer"]["plugin"] == PLUGIN

    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    answers = tmp_path / "answers.jsonl"
    result = run_swiftk(
        "infer", "--model", str(out), "--val_dataset", str(data), "--max_new_tokens", "4",
        "--result_path", str(answers), env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(answers.read_text().splitlines()) == 1


def test_the_load_step_and_a_bad_bits_value(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    result = swiftk(
        "infer", "--model", "swiftk/tiny-chat", "--quant_method", "half", "--val_dataset", str(data),
        "--max_new_tokens", "2", "--result_path", str(tmp_path / "a.jsonl"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "bad"
    result = swiftk(
        "export", "--model", "swiftk/tiny-chat", "--quant_method", "half", "--quant_bits", "4", "--output_dir", str(out)
    )
    assert "--quant_method half stores 16-bit weights; --quant_bits 4 is not possible" in one_line_error(result)
    assert sorted(os.listdir(tmp_path)) == ["a.jsonl", "q.jsonl"]  # check(args) refused before anything was written


@pytest.mark.slow
def test_an_adapter_checkpoint_is_merged_before_quantizing(tmp_path):
    run = tmp_path / "lora"
    result = run_swiftk(
        "sft", "--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-sft#8", "--split_dataset_ratio", "0",
        "--train_type", "lora", "--max_steps", "2", "--per_device_train_batch_size", "2", "--max_length", "64",
        "--report_to", "none", "--add_version", "false", "--save_only_model", "true", "--learning_rate", "5e-2",
        "--output_dir", str(run), env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    ckpt = run / "checkpoint-2"
    result = swiftk("export", "--adapters", str(ckpt), "--quant_method", "half")
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "lora" / "checkpoint-2-half"  # <checkpoint>-<method> by default
    assert "merged into" in result.stdout and _weights_dtypes(out) == {"F16"}
    assert not [p for p in os.listdir(run) if p.startswith(".merged-")]  # the temporary merge is gone

    import torch
    from safetensors.torch import load_file

    from kernel_support import ROOT

    base = load_file(os.path.join(ROOT, "plugins", "demo", "swiftk_demo", "tiny-chat", "model.safetensors"))
    merged = load_file(os.path.join(out, "model.safetensors"))
    changed = [k for k in base if "q_proj" in k and not torch.allclose(base[k].half().float(), merged[k].float())]
    assert changed, "the LoRA update is in the exported weights"
