"""The loading arguments: dtype, attention, RoPE scaling, device map, memory, classification head,
local repo, checks, and load-time quantization (bitsandbytes and hqq on this CPU; eetq needs a GPU)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

from pathlib import Path

import pytest
import torch

import models_helpers  # noqa: F401  (offline environment)
import swiftk
from swiftk.cli.builtin import resolve_arguments
from swiftk.errors import UsageError
from swiftk.pipelines.model import get_template, load_model_and_processor
from swiftk.testing.tiny import build_tiny_checkpoint

SAMPLE = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello there"}]}


@pytest.fixture(scope="module")
def qwen(tmp_path_factory):
    return build_tiny_checkpoint("qwen2_5", tmp_path_factory.mktemp("m") / "Qwen2.5-0.5B-Instruct")


def load(folder, *argv, command="sft"):
    args = resolve_arguments(command, ["--model", str(folder), *argv])
    return (*load_model_and_processor(args), args)


def test_dtype_defaults_to_config_and_can_be_set(qwen):
    model, _, info, _ = load(qwen)
    assert info.torch_dtype == "float32" and model.dtype == torch.float32
    model, _, info, _ = load(qwen, "--torch_dtype", "bfloat16")
    assert model.dtype == torch.bfloat16


def test_attention_implementations(qwen):
    model, *_ = load(qwen)
    assert model.config._attn_implementation in ("sdpa", "eager")
    model, *_ = load(qwen, "--attn_impl", "eager")
    assert model.config._attn_implementation == "eager"


def test_sdpa_falls_back_to_eager_where_unsupported(tmp_path, caplog):
    folder = build_tiny_checkpoint("internlm2", tmp_path / "internlm2-chat-1_8b")
    code = folder / "modeling_tiny_remote.py"
    code.write_text(code.read_text() + "    _supports_sdpa = False\n")
    with caplog.at_level(logging.WARNING, logger="swiftk.model"):
        model, *_ = load(folder, "--attn_impl", "sdpa")
    assert model.config._attn_implementation == "eager"
    assert "falling back to eager" in caplog.text


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_flash_attn_on_cpu_is_a_clear_error(qwen):
    with pytest.raises(UsageError, match="--attn_impl flash_attn needs a CUDA GPU"):
        load(qwen, "--attn_impl", "flash_attn")


def test_rope_scaling_reaches_max_length(qwen):
    model, _, info, _ = load(qwen, "--rope_scaling", "linear", "--max_length", "2048")
    assert info.max_model_len == 2048
    assert model.config.rope_parameters["rope_type"] == "linear"
    assert model.config.rope_parameters["factor"] == 4.0
    model, *_ = load(qwen, "--rope_scaling", "dynamic", "--max_length", "1024")
    assert model.config.rope_parameters["rope_type"] == "dynamic"


def test_rope_scaling_without_max_length(qwen):
    with pytest.raises(UsageError, match="--rope_scaling needs --max_length"):
        load(qwen, "--rope_scaling", "linear")


def test_device_map_forms(qwen, tmp_path):
    for value in ("cpu", '{"": "cpu"}'):
        model, *_ = load(qwen, "--device_map", value)
        assert model.device.type == "cpu"
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"": "cpu"}))
    model, *_ = load(qwen, "--device_map", str(path), "--max_memory", '{"cpu": "2GB"}')
    assert model.device.type == "cpu"
    with pytest.raises(UsageError, match="--device_map"):
        load(qwen, "--device_map", "somewhere")


def test_sequence_classification_head(qwen):
    model, tokenizer, info, args = load(qwen, "--num_labels", "3")
    assert info.task_type == "seq_cls" and type(model).__name__.endswith("ForSequenceClassification")
    batch = tokenizer(["a b c", "d"], return_tensors="pt", padding=True)
    out = model(**batch, labels=torch.tensor([0, 2]))
    out.loss.backward()
    assert out.logits.shape == (2, 3)


def test_load_model_false_gives_the_tokenizer_only(qwen):
    args = resolve_arguments("infer", ["--model", str(qwen)])
    model, tokenizer, info = load_model_and_processor(args, load_model=False)
    assert model is None and tokenizer.pad_token is not None and info.model_type == "qwen2_5"


def test_post_model_load_hook_is_called(qwen, register_plugin):
    import swiftk

    seen = []

    class HookPlugin:
        @swiftk.hookimpl
        def post_model_load(self, args, model, processor):
            seen.append(model.model_info.model_type)

    register_plugin(HookPlugin(), "hook")
    load(qwen)
    assert seen == ["qwen2_5"]


def test_local_repo_path(qwen, tmp_path):
    with pytest.raises(UsageError, match="--local_repo_path"):
        load(qwen, "--local_repo_path", str(tmp_path / "missing"))
    repo = tmp_path / "repo"
    repo.mkdir()
    load(qwen, "--local_repo_path", str(repo))
    assert str(repo) not in sys.path


def test_model_kwargs_are_set_for_model_code(qwen, caplog):
    from swiftk.arguments.model_env import get_model_kwargs

    with caplog.at_level(logging.WARNING, logger="swiftk.model"):
        load(qwen, "--model_kwargs", '{"fps_max_frames": 12}')
    assert get_model_kwargs() == {"fps_max_frames": 12}
    assert "fps_max_frames" in caplog.text  # no model read it: said once


def test_check_model_finds_missing_weights(tmp_path):
    folder = build_tiny_checkpoint("qwen2", tmp_path / "Qwen2-0.5B-Instruct")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UsageError, match="no weight files"):
        load(folder)


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
from test_models_loading import load, _train_step
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


def test_quantization_argument_errors(qwen):
    with pytest.raises(UsageError, match="--quant_method bnb needs --quant_bits 4 or 8"):
        load(qwen, "--quant_method", "bnb", "--quant_bits", "3")
    with pytest.raises(UsageError, match="--quant_method hqq needs --quant_bits"):
        load(qwen, "--quant_method", "hqq")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU error")
def test_eetq_on_cpu_is_a_clear_error(qwen):
    with pytest.raises(UsageError, match="--quant_method eetq needs a CUDA GPU"):
        load(qwen, "--quant_method", "eetq", "--quant_bits", "8")


class _HalfLinears:
    """A third-party quantizer: its config step sees the dtype, its after-load step rewrites the weights."""

    seen: list = []

    @swiftk.hookimpl
    def register_quantizers(self, register):
        from swiftk.api import QuantizerSpec

        register("halves", QuantizerSpec(load_config=self.config, after_load=self.quantize))
        register("export_only", QuantizerSpec(export=lambda args: 0))

    def config(self, args, dtype):
        self.seen.append(("config", args.quant_bits, dtype))
        return None

    def quantize(self, model, args, dtype):
        self.seen.append(("after_load", type(model).__name__))
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.Linear):
                    module.weight.mul_(0.5)


def test_a_registered_quantizer_runs_at_load_time(qwen, register_plugin):
    """--quant_method takes a plugin's quantizer: load_config before from_pretrained, after_load after it."""
    plugin = _HalfLinears()
    register_plugin(plugin, "halves")
    plain, _, _, _ = load(qwen)
    model, _, _, _ = load(qwen, "--quant_method", "halves", "--quant_bits", "4")
    assert plugin.seen == [("config", 4, "float32"), ("after_load", type(model).__name__)]
    q = model.model.layers[0].self_attn.q_proj.weight
    assert torch.allclose(q, plain.model.layers[0].self_attn.q_proj.weight * 0.5)
    with pytest.raises(UsageError, match="registered it for `swiftk export` only"):
        load(qwen, "--quant_method", "export_only")
    with pytest.raises(UsageError, match="--quant_method: 'nope' is not valid.*bnb, hqq, eetq.*halves"):
        load(qwen, "--quant_method", "nope")
