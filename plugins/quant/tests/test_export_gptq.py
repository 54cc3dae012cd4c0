"""``swiftk export --quant_method gptq|awq`` (GPTQModel): clear errors here; a real run in the side venv.

GPTQModel pins numpy 2.2.6 and would replace torch, so it never goes into the main venv: the real
export runs in ``.venv-quant`` (``make quant-env``, built by ``make test``; or set SWIFTK_QUANT_PYTHON
to any Python with gptqmodel, optimum and swift-kernel's packages).  There the demo model is quantized
on the demo conversations, answers through ``swiftk infer``, and keeps most of its next-token choices
(:func:`swiftk_quant.quality.next_token_agreement` against the float32 model).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from swiftk.api import UsageError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
QUANT_PYTHON = os.environ.get("SWIFTK_QUANT_PYTHON") or os.path.join(ROOT, ".venv-quant", "bin", "python")
VLLM_PYTHON = os.environ.get("SWIFTK_VLLM_PYTHON") or os.path.join(ROOT, ".venv-vllm", "bin", "python")
ENV = {
    **os.environ,
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # GPTQModel packs int4 weights with a C++ extension it compiles on first use (~30 s on 2 cores, into
    # ~/.cache): the Python packing takes no longer on the demo model
    "GPTQMODEL_DISABLE_PACK_EXT": "1",
}
# next-token agreement with the float32 model over 16 demo conversations, measured with 32 calibration rows
# (GPTQModel 7.6.0, CPU, bfloat16 export): gptq 0.94, awq 0.89 (0.87 without zero points); vLLM's CPU kernels
# on the same folders agree as closely (0.94, 0.88)
AGREEMENT_FLOOR = {"gptq": 0.85, "awq": 0.8}
DEMO_SFT = os.path.join(ROOT, "plugins", "datasets", "swiftk_datasets", "data", "demo_sft.jsonl")
DEMO_DIR = os.path.join(ROOT, "plugins", "demo", "swiftk_demo", "tiny-chat")


def chatml(messages: list) -> str:
    """A conversation as the demo model's template writes it."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def export_args(*argv: str):
    from swiftk.cli.builtin import resolve_arguments

    return resolve_arguments("export", ["--model", "swiftk/tiny-chat", *argv])


def run_swiftk(python: str, *argv: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, "-m", "swiftk", *argv], capture_output=True, text=True, env=ENV, timeout=timeout, cwd=ROOT
    )


# --- fast: in the main venv, without GPTQModel -------------------------------------------------------


def test_registered_lazily(swiftk_host):
    assert swiftk_host.get("quantizers", "gptq").export == "swiftk_quant.gptq:export_gptq"
    assert swiftk_host.get("quantizers", "awq").export == "swiftk_quant.gptq:export_awq"
    import swiftk_quant.gptq  # noqa: F401

    assert "gptqmodel" not in sys.modules


@pytest.mark.parametrize(
    "method, bits, expected",
    [
        ("gptq", None, "--quant_method gptq needs --quant_bits 2, 3, 4 or 8 (the bit width"),
        ("gptq", "5", "--quant_method gptq needs --quant_bits 2, 3, 4 or 8, got 5"),
        ("awq", "8", "--quant_method awq needs --quant_bits 4, got 8"),
        ("awq", None, "--quant_method awq needs --quant_bits 4 (the bit width"),
    ],
)
def test_bad_quant_bits_is_refused_before_anything_loads(swiftk_host, tmp_path, method, bits, expected):
    from swiftk_quant.gptq import export_awq, export_gptq

    argv = ["--quant_method", method, "--dataset", "swiftk/demo-sft"]
    argv += ["--quant_bits", bits] if bits else []
    export = export_gptq if method == "gptq" else export_awq
    # a model folder that does not exist: the check must come before anything reads it
    with pytest.raises(UsageError) as refused:
        export(export_args(*argv), str(tmp_path / "no-model"), str(tmp_path / "out"))
    assert str(refused.value).startswith(expected), refused.value
    assert "gptqmodel" not in sys.modules


@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_missing_dataset_is_refused_before_anything_loads(swiftk_host, tmp_path, method):
    from swiftk_quant.gptq import export_awq, export_gptq

    export = export_gptq if method == "gptq" else export_awq
    with pytest.raises(UsageError) as refused:
        export(
            export_args("--quant_method", method, "--quant_bits", "4"), str(tmp_path / "no-model"), str(tmp_path / "o")
        )
    message = str(refused.value)
    assert message.startswith(f"--quant_method {method} needs calibration data: pass --dataset"), message
    assert "swiftk/demo-sft" in message


def test_awq_refuses_float32_before_anything_loads(swiftk_host, tmp_path):
    from swiftk_quant.gptq import export_awq

    args = export_args("--quant_method", "awq", "--quant_bits", "4", "--torch_dtype", "float32", "--dataset", "x")
    with pytest.raises(UsageError, match=r"--quant_method awq writes float16/bfloat16 weights"):
        export_awq(args, str(tmp_path / "no-model"), str(tmp_path / "out"))


def test_bad_group_size_is_refused(swiftk_host, tmp_path):
    from swiftk_quant.gptq import export_gptq

    args = export_args("--quant_method", "gptq", "--quant_bits", "4", "--group_size", "0", "--dataset", "x.jsonl")
    with pytest.raises(UsageError, match=r"--group_size 0: a positive number"):
        export_gptq(args, str(tmp_path / "no-model"), str(tmp_path / "out"))


def test_missing_dataset_is_one_line_exit_2(tmp_path):
    out = tmp_path / "out"
    proc = run_swiftk(
        sys.executable,
        "export",
        "--model",
        "swiftk/tiny-chat",
        "--quant_method",
        "gptq",
        "--quant_bits",
        "4",
        "--output_dir",
        str(out),
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "needs calibration data: pass --dataset" in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "config.json").exists()  # nothing written (the run lock may be there)


def test_missing_gptqmodel_is_one_line_exit_2(tmp_path):
    if importlib.util.find_spec("gptqmodel") is not None:
        pytest.skip("gptqmodel is installed here")
    out = tmp_path / "out"
    proc = run_swiftk(
        sys.executable,
        "export",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft",
        "--quant_method",
        "gptq",
        "--quant_bits",
        "4",
        "--output_dir",
        str(out),
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--quant_method gptq needs GPTQModel: pip install 'swift-plugin-quant[gptq]'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (out / "config.json").exists() and not (tmp_path / "out.staging").exists()


def test_calibration_rows_are_rendered_by_the_template_and_cut(swiftk_host, capsys):
    from swiftk_demo import MODEL_DIR
    from swiftk_quant.calibration import calibration_samples
    from transformers import AutoTokenizer

    args = export_args(
        "--quant_method", "gptq", "--dataset", "swiftk/demo-sft", "--quant_n_samples", "8", "--max_length", "24"
    )
    samples = calibration_samples(args, MODEL_DIR)
    assert len(samples) == 8
    assert all(0 < len(s["input_ids"]) <= 24 and s["attention_mask"] == [1] * len(s["input_ids"]) for s in samples)
    assert any(len(s["input_ids"]) == 24 for s in samples)  # demo conversations are longer: cut, not dropped
    text = AutoTokenizer.from_pretrained(MODEL_DIR).decode(samples[0]["input_ids"])
    assert text.startswith("<|im_start|>"), text  # the demo model's chatml template
    assert "calibrating on all" not in capsys.readouterr().out

    every = calibration_samples(export_args("--dataset", "swiftk/demo-sft", "--quant_n_samples", "1000"), MODEL_DIR)
    assert 0 < len(every) < 1000
    assert f"--quant_n_samples 1000: the calibration data has {len(every)} usable rows" in capsys.readouterr().out


# --- slow: the real export with GPTQModel, in .venv-quant ---------------------------------------------

needs_quant_env = pytest.mark.skipif(
    not os.path.exists(QUANT_PYTHON),
    reason=f"no GPTQModel environment ({QUANT_PYTHON}): `make quant-env` builds it (`make test` does)",
)
QUESTIONS = ["What is the capital of France?", "How many days are in a leap year?"]
PT_ANSWERS: dict = {}  # method -> the pt engine's answers, kept for the vLLM comparison


@pytest.fixture(scope="module", params=["gptq", "awq"])
def exported(request, tmp_path_factory):
    """``(method, folder)``: the demo model quantized to int4 by ``swiftk export`` in the side venv."""
    if not os.path.exists(QUANT_PYTHON):
        pytest.skip(f"no GPTQModel environment ({QUANT_PYTHON}): `make quant-env` builds it (`make test` does)")
    method = request.param
    out = tmp_path_factory.mktemp(method) / f"tiny-chat-{method}-int4"
    proc = run_swiftk(
        QUANT_PYTHON,
        "export",
        "--model",
        "swiftk/tiny-chat",
        "--dataset",
        "swiftk/demo-sft",
        "--quant_method",
        method,
        "--quant_bits",
        "4",
        "--quant_n_samples",
        "32",
        "--output_dir",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return method, out


def answers(name: str, python: str, folder, tmp_path, *extra: str, env: dict | None = None) -> list:
    """Greedy 4-token answers of ``swiftk infer --model folder`` to :data:`QUESTIONS`."""
    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n" for q in QUESTIONS))
    result = tmp_path / f"answers-{name}.jsonl"
    argv = ["infer", "--model", str(folder), "--val_dataset", str(data), "--max_new_tokens", "4"]
    argv += ["--temperature", "0", "--result_path", str(result), *extra]
    proc = subprocess.run(
        [python, "-m", "swiftk", *argv], capture_output=True, text=True, env=env or ENV, timeout=900, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads(line)["response"] for line in result.read_text().splitlines()]


@pytest.mark.slow
@needs_quant_env
def test_export_writes_a_loadable_quantized_folder(exported):
    method, out = exported
    quant = json.loads((out / "config.json").read_text())["quantization_config"]
    assert quant["quant_method"] == method and quant["bits"] == 4 and quant["group_size"] == 128, quant
    assert quant.get("desc_act") is False
    if method == "awq":
        assert quant["zero_point"] is True and quant["version"] == "gemm", quant
    else:
        assert quant["sym"] is True, quant
    assert (out / "model.safetensors").stat().st_size < 0.35 * os.path.getsize(
        os.path.join(DEMO_DIR, "model.safetensors")
    )
    for name in (
        "args.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
        "generation_config.json",
    ):
        assert (out / name).is_file(), name
    assert not (out.parent / f"{out.name}.staging").exists()


@pytest.mark.slow
@needs_quant_env
def test_export_answers_and_keeps_the_next_tokens(exported, tmp_path):
    method, out = exported
    # the folder answers through swiftk infer (transformers + gptqmodel kernels on CPU)
    replies = PT_ANSWERS[method] = answers("pt", QUANT_PYTHON, out, tmp_path)
    assert len(replies) == 2 and all(isinstance(a, str) and a.strip() for a in replies), replies

    # and it still picks the float32 model's next token almost everywhere
    texts = [chatml(json.loads(line)["messages"]) for line in open(DEMO_SFT, encoding="utf-8")][:16]
    code = (
        "import json, sys; from swiftk_quant.quality import next_token_agreement; "
        "print(next_token_agreement(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))"
    )
    proc = subprocess.run(
        [QUANT_PYTHON, "-c", code, DEMO_DIR, str(out), json.dumps(texts)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    agreement = float(proc.stdout.strip().splitlines()[-1])
    assert agreement >= AGREEMENT_FLOOR[method], f"{method}: next-token agreement {agreement:.3f}"


@pytest.mark.slow
@needs_quant_env
@pytest.mark.skipif(
    not os.path.exists(VLLM_PYTHON), reason=f"no vLLM environment ({VLLM_PYTHON}); `make vllm-env` builds it"
)
def test_vllm_cpu_serves_the_export_like_the_pt_engine(exported, tmp_path):
    """vLLM's CPU build (its own GPTQ/AWQ kernels, no gptqmodel) loads the folder and answers; greedy
    answers in bfloat16 from two different kernels may part after a few tokens, so one of the two
    prompts must get the pt engine's very answer."""
    method, out = exported
    if method != "gptq":  # vLLM's AWQ path passed this very test in CI (a271d6d); each vLLM start costs ~40 s
        pytest.skip("vLLM is checked on the GPTQ export (and on W8A8 in test_export_cpu.py)")
    pt = PT_ANSWERS.get(method) or answers("pt", QUANT_PYTHON, out, tmp_path)
    vllm_env = {**ENV, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "2"}
    # vLLM runs GPTQ/AWQ in float16/bfloat16 only: the export's args.json records the bfloat16 it was written in
    vllm_flags = ["--infer_backend", "vllm", "--enforce_eager", "true", "--max_model_len", "1024"]
    vllm_flags += ["--gpu_memory_utilization", "0.5"]
    served = answers("vllm", VLLM_PYTHON, out, tmp_path, *vllm_flags, env=vllm_env)
    assert len(served) == 2 and all(a.strip() for a in served), served
    assert any(a == b for a, b in zip(served, pt)), (method, served, pt)
