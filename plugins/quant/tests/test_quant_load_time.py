"""Load-time quantization (``--quant_method bnb|hqq|eetq``): bitsandbytes and hqq load and train a LoRA
step on this CPU; eetq needs a GPU; bad values are one clear error before loading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from swiftk.cli.builtin import resolve_arguments
from swiftk.errors import UsageError
from swiftk.pipelines.model import get_template, load_model_and_processor
from swiftk.testing.tiny import build_tiny_checkpoint

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

SAMPLE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    return build_tiny_checkpoint("qwen2_5", tmp_path_factory.mktemp("m") / "Qwen2.5-0.5B-Instruct")


def load(folder, *argv, command="sft"):
    args = resolve_arguments(command, ["--model", str(folder), *argv])
    return (*load_model_and_processor(args), args)


def _train_step(model, tokenizer, args, info):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    template = get_template(args, tokenizer, info)
    loss = model(**template.data_collator([template.encode(SAMPLE)])).loss
    loss.backward()
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3).step()
    return loss


@pytest.fixture(scope="module")
def wide_llama(tmp_path_factory):
    """bitsandbytes' CPU 4-bit kernels need layers at least 64 wide."""
    return build_tiny_checkpoint(
        "llama2",
        tmp_path_factory.mktemp("w") / "Llama-2-7b-chat-hf",
        hidden_size=128,
        intermediate_size=256,
        head_dim=32,
    )


@pytest.mark.slow
@pytest.mark.parametrize("bits,layer", [(4, "Linear4bit"), (8, "Linear8bitLt")])
def test_bnb_loads_and_trains_a_lora_step(wide_llama, bits, layer):
    pytest.importorskip("bitsandbytes")
    model, tokenizer, info, args = load(wide_llama, "--quant_method", "bnb", "--quant_bits", str(bits))
    assert type(model.model.layers[0].self_attn.q_proj).__name__ == layer
    assert torch.isfinite(_train_step(model, tokenizer, args, info))


#: hqq lives outside the venv's site-packages (make install puts it in .extras/hqq): importable, it costs
#: every model load seconds. This test imports it in a child process with that folder on PYTHONPATH.
HQQ_SITE = Path(__file__).resolve().parents[3] / ".extras" / "hqq"
HQQ_CHECK = """
import sys, torch
sys.path.insert(0, {tests!r})
from test_quant_load_time import load, _train_step
model, tokenizer, info, args = load({folder!r}, "--quant_method", "hqq", "--quant_bits", "4")
assert type(model.model.layers[0].self_attn.q_proj).__name__ == "HQQLinear"
assert torch.isfinite(_train_step(model, tokenizer, args, info))
print("HQQ OK")
"""


@pytest.mark.slow
def test_hqq_loads_and_trains_a_lora_step(wide_llama):
    site = os.environ.get("SWIFTK_HQQ_SITE", str(HQQ_SITE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [site, os.environ.get("PYTHONPATH")]))}
    probe = subprocess.run([sys.executable, "-c", "import hqq"], env=env, capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"hqq is not installed in {site} (make install puts it there)")
    code = HQQ_CHECK.format(tests=str(Path(__file__).parent), folder=str(wide_llama))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0 and "HQQ OK" in proc.stdout, proc.stderr[-3000:]


HQQ_MISSING = """
import types
from swiftk.errors import MissingPluginError
from swiftk_quant.load_time import hqq_check
args = types.SimpleNamespace(get=lambda key, default=None: 4 if key == "quant_bits" else default)
try:
    hqq_check(args, "float32")
except MissingPluginError as exc:
    print(exc)
"""


def test_hqq_missing_says_how_this_checkout_enables_it():
    # without .extras/hqq on the path the error names it (not a bare pip install), and its remedy works
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", HQQ_MISSING], env=env, capture_output=True, text=True, timeout=120)
    message = proc.stdout.strip()
    assert proc.returncode == 0 and message.startswith("--quant_method hqq needs the hqq package"), proc.stderr[-2000:]
    assert f"PYTHONPATH={HQQ_SITE}" in message and "\n" not in message
    if (HQQ_SITE / "hqq").is_dir():
        remedy = {**env, "PYTHONPATH": str(HQQ_SITE)}
        assert subprocess.run([sys.executable, "-c", "import hqq"], env=remedy, timeout=120).returncode == 0
    else:
        assert "make install" in message


def test_quantization_argument_errors(qwen):
    with pytest.raises(UsageError, match="--quant_method bnb needs --quant_bits 4 or 8"):
        load(qwen, "--quant_method", "bnb", "--quant_bits", "3")
    with pytest.raises(UsageError, match="--quant_method hqq needs --quant_bits"):
        load(qwen, "--quant_method", "hqq")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_eetq_on_cpu_is_a_clear_error(qwen):
    with pytest.raises(UsageError, match="--quant_method eetq needs a CUDA GPU"):
        load(qwen, "--quant_method", "eetq", "--quant_bits", "8")
