"""The loading arguments: dtype, attention, RoPE scaling, device map, memory, classification head,
local repo, checks, and a registered quantizer's load steps (bnb, hqq and eetq: swift-plugin-quant's tests)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path


import pytest
import torch

import models_helpers  # noqa: F401  (offline environment)
import swiftk
from swiftk.cli.builtin import resolve_arguments
from swiftk.errors import UsageError
from swiftk.pipelines.model import load_model_and_processor
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


SDPA_FALLBACK = """
import logging, sys
import models_helpers
from swiftk.cli.builtin import resolve_arguments
from swiftk.pipelines.model import load_model_and_processor
from swiftk.testing.tiny import build_tiny_checkpoint

logging.basicConfig(level=logging.WARNING, stream=sys.stdout)
folder = build_tiny_checkpoint("internlm2", sys.argv[1])
code = folder / "modeling_tiny_remote.py"
code.write_text(code.read_text() + "    _supports_sdpa = False\\n")
args = resolve_arguments("sft", ["--model", str(folder), "--attn_impl", "sdpa"])
model, *_ = load_model_and_processor(args)
print("ATTN", model.config._attn_implementation)
"""


def test_sdpa_falls_back_to_eager_where_unsupported(tmp_path):
    """In a fresh interpreter: loaded in a process that had run other test files, the remote-code class kept
    sdpa (seen twice under pytest-xdist, never alone; the cause is not found yet)."""
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", SDPA_FALLBACK, str(tmp_path / "internlm2-chat-1_8b")],
        capture_output=True, text=True, timeout=300, cwd=str(Path(models_helpers.__file__).parent),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ATTN eager" in proc.stdout, proc.stdout[-2000:]
    assert "does not support sdpa attention; falling back to eager" in proc.stdout + proc.stderr


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
    # later ms-swift's yarn: the factor from the length trained at, which YaRN also needs
    model, _, info, _ = load(qwen, "--rope_scaling", "yarn", "--max_length", "2048")
    rope = model.config.rope_parameters
    assert rope["rope_type"] == "yarn" and rope["factor"] == 4.0 and rope["original_max_position_embeddings"] == 512
    ids = torch.randint(0, 100, (1, 600))  # past the trained length
    with torch.no_grad():
        assert torch.isfinite(model(ids).logits).all()


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
