"""Tuners through the real `swiftk` command: train on swiftk/tiny-chat, then `swiftk export --merge_lora`
and `swiftk merge-lora` write `<checkpoint>-merged`; `swiftk infer --adapters` loads any tuner's
checkpoint; tuners that cannot merge are refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMON = [
    "--model",
    "swiftk/tiny-chat",
    "--dataset",
    "swiftk/demo-sft#16",
    "--split_dataset_ratio",
    "0",
    "--max_steps",
    "4",
    "--per_device_train_batch_size",
    "2",
    "--max_length",
    "64",
    "--report_to",
    "none",
    "--add_version",
    "false",
    "--gradient_checkpointing",
    "false",
    "--dataloader_num_workers",
    "0",
    "--save_only_model",
    "true",
    "--learning_rate",
    "5e-3",
]


def swiftk(*args, check=True):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "swiftk", *args], capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def one_line_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


def logits(model_dir, adapters=None):
    import torch

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.export import apply_adapters
    from swiftk.pipelines.model import load_model_and_processor
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        argv = ["--adapters", adapters] if adapters else ["--model", str(model_dir)]
        args = resolve_arguments("infer", argv)
        model, _, _ = load_model_and_processor(args)
        if adapters:
            model = apply_adapters(model, [adapters], args)
        ids = torch.tensor([[5, 17, 99, 240, 7, 63, 12, 400]])
        with torch.no_grad():
            return model.eval()(input_ids=ids).logits


@pytest.fixture(scope="module")
def lora_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "lora"
    swiftk("sft", *COMMON, "--train_type", "lora", "--use_dora", "true", "--output_dir", str(out))
    return out / "checkpoint-4"


@pytest.mark.slow
def test_export_merge_lora_writes_a_full_sharded_model_folder(lora_checkpoint):
    import torch

    proc = swiftk("export", "--adapters", str(lora_checkpoint), "--merge_lora", "true", "--max_shard_size", "1MB")
    merged = Path(str(lora_checkpoint) + "-merged")
    assert f"merged model saved to {merged}" in proc.stdout, proc.stdout[-2000:]
    names = set(os.listdir(merged))
    assert {"config.json", "tokenizer.json", "args.json", "model.safetensors.index.json"} <= names, names
    assert len([n for n in names if n.endswith(".safetensors")]) >= 2  # sharded by --max_shard_size
    assert not Path(str(merged) + ".staging").exists()
    assert torch.allclose(logits(merged), logits(None, str(lora_checkpoint)), atol=1e-4, rtol=1e-4)
    # a second export into the same folder needs --exist_ok
    again = swiftk("export", "--adapters", str(lora_checkpoint), "--merge_lora", "true", check=False)
    assert "--exist_ok true" in one_line_error(again)


@pytest.mark.slow
def test_merge_lora_command_with_bin_weights(lora_checkpoint, tmp_path):
    import torch

    target = tmp_path / "merged-bin"
    swiftk(
        "merge-lora", "--adapters", str(lora_checkpoint), "--safe_serialization", "false", "--output_dir", str(target)
    )
    names = set(os.listdir(target))
    assert "pytorch_model.bin" in names and not any(n.endswith(".safetensors") for n in names), names
    assert torch.allclose(logits(target), logits(None, str(lora_checkpoint)), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_unmergeable_tuner_and_bad_export_input_are_one_line_errors(tmp_path):
    out = tmp_path / "adapter"
    swiftk("sft", *COMMON, "--train_type", "adapter", "--adapter_length", "8", "--output_dir", str(out))
    ckpt = out / "checkpoint-4"
    assert json.loads((ckpt / "swiftk_tuner.json").read_text())["train_type"] == "adapter"
    refused = swiftk("export", "--adapters", str(ckpt), "--merge_lora", "true", check=False)
    assert "train_type adapter cannot be merged" in one_line_error(refused)
    assert not Path(str(ckpt) + "-merged", "config.json").exists()
    nothing = swiftk("export", "--adapters", str(ckpt), check=False)
    assert "nothing to do" in one_line_error(nothing)
    missing = swiftk("merge-lora", "--adapters", str(tmp_path / "nope"), "--model", "swiftk/tiny-chat", check=False)
    assert "no such folder" in one_line_error(missing)


def test_infer_engine_loads_a_native_tuner_checkpoint(tmp_path):
    """`swiftk infer --adapters` dispatches on the saved train_type (here llamapro, not a peft folder)."""
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope
    from swiftk.testing.tuners import train_tuner
    from swiftk_infer.pt_engine import PtEngine

    run = train_tuner("llamapro", str(tmp_path), ("--llamapro_num_new_blocks", "2"), max_steps=2)
    with HostScope(autoload=True):
        engine = PtEngine.from_args(resolve_arguments("infer", ["--adapters", run.checkpoint, "--max_new_tokens", "4"]))
        assert engine.model.config.num_hidden_layers == 6
        from swiftk.infer import InferRequest, RequestConfig

        reply = engine.infer(
            [InferRequest(messages=[{"role": "user", "content": "hi"}])], RequestConfig(max_tokens=4, temperature=0)
        )[0]
        assert reply.choices[0].message["content"] is not None
