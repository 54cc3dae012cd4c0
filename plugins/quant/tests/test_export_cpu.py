"""`swiftk export --quant_method fp8|w8a8|bnb` through the real CLI on swiftk/tiny-chat, on CPU: the folder it
writes (quantized weights, the quantization_config transformers reloads it with, tokenizer, chat template,
args.json), `swiftk infer` answering from it, and its next-token agreement with the full-precision model;
an adapter checkpoint merged before quantizing; bad --quant_bits and an occupied --output_dir refused in one line.

tiny-chat's layers are 128 wide (its k/v projections 64): wide enough for bitsandbytes' CPU 4-bit kernels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "OMP_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
}

#: (id, --quant_method, --quant_bits, next-token agreement floor). Measured on tiny-chat over the 16 first
#: rows of swiftk/demo-sft (1002 positions): fp8 0.964, w8a8 0.989, bnb nf4 0.889, bnb int8 0.992; each floor
#: is about 0.1 below.
CASES = [
    ("fp8", "fp8", None, 0.86),
    ("w8a8", "w8a8", None, 0.89),
    ("bnb4", "bnb", 4, 0.79),
    ("bnb8", "bnb", 8, 0.89),
]


def swiftk(*args, check=True):
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=600
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    return proc


def one_line_error(proc) -> str:
    errors = [line for line in proc.stderr.splitlines() if line.startswith("swiftk: error:")]
    assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return errors[0]


def demo_texts(n: int = 16) -> list[str]:
    """The first ``n`` conversations of swiftk/demo-sft as tiny-chat sees them (its chat template)."""
    import swiftk_datasets
    from transformers import AutoTokenizer

    from swiftk_demo import MODEL_DIR

    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    path = Path(swiftk_datasets.__file__).parent / "data" / "demo_sft.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:n]
    return [tokenizer.apply_chat_template(row["messages"], tokenize=False) for row in rows]


def quantized_weight(folder: Path, name: str = "model.layers.0.self_attn.q_proj.weight"):
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        return f.get_tensor(name), keys


def check_quantization_config(method: str, bits, config: dict) -> None:
    q = config["quantization_config"]
    if method in ("fp8", "w8a8"):
        assert q["quant_method"] == "compressed-tensors", q
        assert q["format"] == ("float-quantized" if method == "fp8" else "int-quantized"), q
        (group,) = q["config_groups"].values()
        assert group["targets"] == ["Linear"], group
        assert group["weights"]["num_bits"] == 8 and group["weights"]["strategy"] == "channel", group
        assert group["weights"]["type"] == ("float" if method == "fp8" else "int"), group
        acts = group["input_activations"]
        assert acts["dynamic"] is True and acts["strategy"] == "token" and acts["num_bits"] == 8, acts
        assert "lm_head" in q["ignore"], q
    else:
        assert q["quant_method"] == "bitsandbytes", q
        assert q["load_in_4bit"] is (bits == 4) and q["load_in_8bit"] is (bits == 8), q
        if bits == 4:
            assert q["bnb_4bit_quant_type"] == "nf4" and q["bnb_4bit_use_double_quant"] is True, q


def check_weights(method: str, bits, folder: Path) -> None:
    import torch

    weight, keys = quantized_weight(folder)
    prefix = "model.layers.0.self_attn.q_proj."
    if method == "fp8":
        assert weight.dtype == torch.float8_e4m3fn and weight.shape == (128, 128), weight.dtype
        assert prefix + "weight_scale" in keys
    elif method == "w8a8":
        assert weight.dtype == torch.int8 and weight.shape == (128, 128), weight.dtype
        assert prefix + "weight_scale" in keys
    elif bits == 4:
        assert weight.dtype == torch.uint8 and weight.numel() == 128 * 128 // 2, (weight.dtype, weight.shape)
        assert any(k.startswith(prefix + "weight.quant_state") for k in keys), sorted(keys)[:20]
    else:
        assert weight.dtype == torch.int8 and weight.shape == (128, 128), weight.dtype
        assert prefix + "SCB" in keys or prefix + "weight_format" in keys, sorted(keys)[:20]
    assert not any(k.startswith("lm_head.") and k != "lm_head.weight" for k in keys)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_export_writes_a_quantized_folder_that_infer_reloads(case, tmp_path):
    from swiftk_demo import MODEL_DIR
    from swiftk_quant.quality import next_token_agreement

    name, method, bits, floor = case
    out = tmp_path / name
    proc = swiftk(
        "export",
        "--model",
        "swiftk/tiny-chat",
        "--quant_method",
        method,
        *(["--quant_bits", bits] if bits else []),
        "--output_dir",
        out,
    )
    assert f"model saved to {out}" in proc.stdout, proc.stdout[-2000:]
    assert not Path(str(out) + ".staging").exists()

    # the folder: config with its quantization_config, quantized weights, tokenizer and chat template, args.json
    names = set(os.listdir(out))
    wanted = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}
    assert wanted | {"generation_config.json", "args.json"} <= names, names
    check_quantization_config(method, bits, json.loads((out / "config.json").read_text()))
    check_weights(method, bits, out)
    recorded = json.loads((out / "args.json").read_text())
    assert recorded["quant_method"] == method and recorded.get("quant_bits") == bits, recorded
    assert recorded["model_type"] == "tiny_chat" and recorded["template"] == "tiny_chat", recorded

    # swiftk infer loads it and answers
    data = tmp_path / "q.jsonl"
    rows = [{"messages": [{"role": "user", "content": q}]} for q in ("What is the capital of France?", "Hi")]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = tmp_path / "answers.jsonl"
    swiftk(
        "infer",
        "--model",
        out,
        "--val_dataset",
        data,
        "--max_new_tokens",
        "4",
        "--temperature",
        "0",
        "--result_path",
        result,
    )
    answers = [json.loads(line) for line in result.read_text().splitlines()]
    assert len(answers) == 2 and all(isinstance(a["response"], str) for a in answers), answers

    # it stays close to the full-precision model
    agreement = next_token_agreement(MODEL_DIR, str(out), demo_texts())
    print(f"{name}: next-token agreement {agreement:.3f}")
    assert agreement >= floor, f"{name}: next-token agreement {agreement:.3f} < {floor}"


@pytest.mark.slow
def test_an_adapter_checkpoint_is_merged_then_quantized_to_ckpt_fp8(tmp_path):
    run = tmp_path / "lora"
    swiftk(
        "sft",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft#20",
        "--train_type",
        "lora",
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--max_length",
        "64",
        "--split_dataset_ratio",
        "0",
        "--learning_rate",
        "5e-3",
        "--report_to",
        "none",
        "--add_version",
        "false",
        "--save_only_model",
        "true",
        "--dataloader_num_workers",
        "0",
        "--output_dir",
        run,
    )
    ckpt = run / "checkpoint-2"
    proc = swiftk("export", "--adapters", ckpt, "--quant_method", "fp8")
    target = Path(f"{ckpt}-fp8")
    assert "merged into" in proc.stdout and f"fp8 model saved to {target}" in proc.stdout, proc.stdout[-2000:]
    names = set(os.listdir(target))
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", "args.json"} <= names, names
    assert "adapter_config.json" not in names and "adapter_model.safetensors" not in names, names
    check_quantization_config("fp8", None, json.loads((target / "config.json").read_text()))
    check_weights("fp8", None, target)
    recorded = json.loads((target / "args.json").read_text())
    assert recorded["quant_method"] == "fp8" and recorded["template"] == "tiny_chat", recorded


@pytest.mark.parametrize(
    "method,bits,valid",
    [("fp8", "4", "--quant_bits takes 8"), ("w8a8", "4", "--quant_bits takes 8"), ("bnb", "3", "--quant_bits 4 or 8")],
)
def test_bad_quant_bits_is_one_line(method, bits, valid, tmp_path):
    out = tmp_path / "out"
    proc = swiftk(
        "export",
        "--model",
        "swiftk/tiny-chat",
        "--quant_method",
        method,
        "--quant_bits",
        bits,
        "--output_dir",
        out,
        check=False,
    )
    line = one_line_error(proc)
    assert valid in line and f"--quant_method {method}" in line, line
    assert not (out / "config.json").exists() and not Path(f"{out}.staging").exists()


def test_an_occupied_output_dir_needs_exist_ok(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = swiftk("export", "--model", "swiftk/tiny-chat", "--quant_method", "fp8", "--output_dir", out, check=False)
    assert "--exist_ok true" in one_line_error(proc)
    assert (out / "notes.txt").read_text() == "mine"
    assert not {"config.json", "model.safetensors"} & set(os.listdir(out)), os.listdir(out)


def test_an_existing_args_json_is_not_overwritten_by_a_refused_export(tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "args.json").write_text('{"mine": true}')
    proc = swiftk("export", "--model", "swiftk/tiny-chat", "--quant_method", "w8a8", "--output_dir", out, check=False)
    assert "--exist_ok true" in one_line_error(proc)
    assert sorted(os.listdir(out)) == ["args.json"] and json.loads((out / "args.json").read_text()) == {"mine": True}


ROOT = Path(__file__).resolve().parents[3]
VLLM_PYTHON = os.environ.get("SWIFTK_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")


@pytest.fixture(scope="module")
def w8a8_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("w8a8") / "tiny-chat-w8a8"
    swiftk("export", "--model", "swiftk/tiny-chat", "--quant_method", "w8a8", "--output_dir", out)
    return out


@pytest.mark.slow
def test_deploy_serves_a_quantized_folder(w8a8_folder):
    import httpx

    from swiftk_infer.testing import DeployProcess

    with DeployProcess(["--model", str(w8a8_folder)], env={"OMP_NUM_THREADS": "1"}) as server:
        body = {"model": "tiny-chat-w8a8", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
        reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=120)
    assert reply.status_code == 200, reply.text
    answer = reply.json()["choices"][0]
    assert answer["message"]["content"].strip() and answer["finish_reason"] in ("stop", "length")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(VLLM_PYTHON), reason=f"no vLLM environment ({VLLM_PYTHON}); make vllm-env")
def test_vllm_cpu_serves_the_w8a8_folder(w8a8_folder, tmp_path):
    """vLLM's CPU build lists W8A8 (compressed-tensors int8) among its quantizations: the export answers there."""
    data = tmp_path / "q.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
    result = tmp_path / "vllm.jsonl"
    env = {**ENV, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [VLLM_PYTHON, "-m", "swiftk", "infer", "--model", str(w8a8_folder), "--infer_backend", "vllm",
         "--enforce_eager", "true", "--max_model_len", "1024", "--gpu_memory_utilization", "0.5",
         "--val_dataset", str(data), "--max_new_tokens", "4", "--temperature", "0", "--result_path", str(result)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [json.loads(line) for line in result.read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["response"].strip()
