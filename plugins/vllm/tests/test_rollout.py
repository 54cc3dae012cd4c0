"""``swiftk rollout`` (later ms-swift's ``swift rollout``): ms-swift's command lines parse, map onto ``vllm serve``,
and what the server does not do is refused in one line before vLLM is needed.  The real server runs in
plugins/grpo/tests/test_grpo_server.py (GRPO against it, weights checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def _args(*argv: str):
    from swiftk.cli.builtin import resolve_arguments

    return resolve_arguments("rollout", ["--model", "swiftk/tiny-chat", *argv])


def test_ms_swift_rollout_lines_parse_as_the_deploy_arguments(swiftk_host):
    args = _args("--vllm_tensor_parallel_size", "2", "--vllm_data_parallel_size", "2", "--port", "8001")
    assert args.tensor_parallel_size == 2 and args.vllm_data_parallel_size == 2 and args.port == 8001
    args = _args(
        "--vllm_max_model_len", "4096", "--vllm_use_async_engine", "true", "--vllm_enable_prefix_caching", "true"
    )
    assert args.max_model_len == 4096 and args.vllm_use_async_engine is True and args.enable_prefix_caching is True


def test_serve_argv_carries_the_arguments_and_the_weight_sync(swiftk_host):
    from swiftk_vllm.rollout import WORKER_EXTENSION, serve_argv

    args = _args(
        "--vllm_tensor_parallel_size", "2", "--vllm_data_parallel_size", "3", "--port", "8001",
        "--vllm_max_model_len", "512", "--vllm_enforce_eager", "true", "--served_model_name", "policy",
    )  # fmt: skip
    argv = serve_argv(args, "/models/m", "float32", cuda=False)
    assert argv[:2] == ["serve", "/models/m"]
    pairs = dict(zip(argv[2::1], argv[3::1]))
    assert pairs["--tensor-parallel-size"] == "2" and pairs["--data-parallel-size"] == "3"
    assert pairs["--port"] == "8001" and pairs["--max-model-len"] == "512" and pairs["--served-model-name"] == "policy"
    assert pairs["--worker-extension-cls"] == WORKER_EXTENSION and "--enforce-eager" in argv
    assert "--weight-transfer-config" not in argv and "--gpu-memory-utilization" not in argv  # CPU: no NCCL
    gpu = serve_argv(args, "/models/m", "bfloat16", cuda=True)
    assert json.loads(gpu[gpu.index("--weight-transfer-config") + 1]) == {"backend": "nccl"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ("--multi_turn_scheduler", "tree_rollout_scheduler", "--max_turns", "6"),
            "--multi_turn_scheduler, --max_turns: multi-turn GRPO",
        ),
        (("--vllm_use_async_engine", "false"), "--vllm_use_async_engine false"),
        (("--vllm_enable_lora", "true"), "the trainer sends merged weights"),
        (("--adapters", "/some/adapter"), "merge adapters first"),
        (("--api_key", "sk-1"), "--api_key: GRPO's rollout client sends no key"),
        (("--rope_scaling", "yarn", "--max_length", "4096"), "--rope_scaling: swiftk rollout serves the model's own"),
    ],
)
def test_what_the_server_does_not_do_is_refused_before_vllm(swiftk_host, argv, message):
    from swiftk.api import UsageError
    from swiftk_vllm.rollout import check

    with pytest.raises(UsageError, match=message):
        check(_args(*argv))


def test_without_vllm_the_command_says_what_to_install(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", "rollout", "--model", "swiftk/tiny-chat"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "pip install vllm" in proc.stderr and "Traceback" not in proc.stderr
