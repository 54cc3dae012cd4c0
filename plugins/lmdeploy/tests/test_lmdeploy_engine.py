"""The lmdeploy engine: registered lazily; a clear error without lmdeploy; a real run on a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _has_gpu() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def test_registered_without_importing_lmdeploy(swiftk_host):
    spec = swiftk_host.get("infer_engines", "lmdeploy")
    assert spec.engine_cls == "swiftk_lmdeploy.engine:LmdeployEngine" and spec.needs_gpu
    assert "lmdeploy" not in sys.modules


def test_backend_config_maps_the_page(swiftk_host):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk_lmdeploy.engine import backend_config

    args = resolve_arguments(
        "infer",
        [
            "--model",
            "swiftk/tiny-chat",
            "--infer_backend",
            "lmdeploy",
            "--tp",
            "2",
            "--session_len",
            "2048",
            "--cache_max_entry_count",
            "0.5",
            "--quant_policy",
            "8",
        ],
    )
    backend, kwargs = backend_config(args, {})
    assert backend == "turbomind" and kwargs == {
        "tp": 2,
        "session_len": 2048,
        "cache_max_entry_count": 0.5,
        "quant_policy": 8,
    }
    backend, kwargs = backend_config(args, {"a": "/x"})
    assert backend == "pytorch" and kwargs["adapters"] == {"a": "/x"} and "quant_policy" not in kwargs


def test_missing_lmdeploy_is_one_clear_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("lmdeploy") is not None:
        pytest.skip("lmdeploy is installed here")
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
            "lmdeploy",
            "--val_dataset",
            str(tmp_path / "x.jsonl"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2
    assert "pip install lmdeploy" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not _has_gpu(), reason="LMDeploy needs a CUDA GPU")
def test_lmdeploy_greedy_answers_match_the_pt_engine(tmp_path):
    pytest.importorskip("lmdeploy")
    data = tmp_path / "q.jsonl"
    data.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n"
            for q in ["What is 3 + 4?", "What color is grass?"]
        )
    )
    results = {}
    for backend in ("pt", "lmdeploy"):
        out = tmp_path / f"{backend}.jsonl"
        proc = subprocess.run(
            [
                sys.executable,
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
            ],
            capture_output=True,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[backend] = [json.loads(line)["response"] for line in out.read_text().splitlines()]
    assert results["lmdeploy"] == results["pt"]


def test_num_beams_is_refused_before_lmdeploy_is_needed(swiftk_host):
    """LMDeploy has no beam search: --num_beams > 1 is one clear line (checked before lmdeploy is imported)."""
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.errors import UsageError
    from swiftk_lmdeploy.engine import LmdeployEngine

    args = resolve_arguments(
        "infer", ["--model", "swiftk/tiny-chat", "--infer_backend", "lmdeploy", "--num_beams", "2"]
    )
    with pytest.raises(UsageError) as refused:
        LmdeployEngine.from_args(args)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("--num_beams 2: the lmdeploy backend has no beam search")
    assert "use --infer_backend pt for beam search" in message
    assert "lmdeploy" not in sys.modules
