"""GRPO with ``--use_vllm true --vllm_mode server``: a real ``swiftk rollout`` (vLLM's CPU build, in the side
venv ``.venv-vllm``) serves the rollouts, and the trainer (this venv, no vLLM) keeps its weights in step.

The end-to-end test checks what makes server mode right rather than merely running: after three LoRA steps the
server holds exactly the merged weights of checkpoint-2 (the policy its last rollout sampled from), which differ
from the weights it started with.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

import grpo_helpers as h

#: server mode; the host(s) follow
SERVER_MODE = ("--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_host")
#: a server on this machine; its port follows
ON_SERVER = [*SERVER_MODE, "127.0.0.1", "--vllm_server_port"]
VLLM_PYTHON = os.environ.get("SWIFTK_VLLM_PYTHON") or str(h.ROOT / ".venv-vllm" / "bin" / "python")


def _resolve(*argv: str):
    from swiftk.cli.builtin import resolve_arguments
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        from swiftk_grpo.args import prepare_grpo

        args = resolve_arguments(
            "rlhf", [*h.COMMON, "--dataset", "swiftk/demo-grpo-sums", "--reward_funcs", "accuracy", *argv]
        )
        prepare_grpo(args)
        return args


def test_server_mode_takes_the_server_and_needs_neither_vllm_nor_a_gpu_here():
    from swiftk_grpo.args import grpo_config
    from swiftk_grpo.server_rollout import server_urls

    args = _resolve("--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_host", "127.0.0.1", "10.0.0.2")
    assert server_urls(args) == ["http://127.0.0.1:8000", "http://10.0.0.2:8000"]
    assert grpo_config(args)["use_vllm"] is False  # no vLLM here: our rollout_func, not trl's vLLM client
    args = _resolve("--use_vllm", "true", "--vllm_mode", "server", "--vllm_server_base_url", "http://rollout:9000/")
    assert server_urls(args) == ["http://rollout:9000"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (("--use_vllm", "true", "--vllm_mode", "server"), "needs --vllm_server_host"),
        (("--vllm_server_host", "127.0.0.1"), "--vllm_server_host: only used with --vllm_mode server"),
        ((*SERVER_MODE, "a", "b", "c", "--vllm_server_port", "1", "2"), "give one port, or one per --vllm_server_host"),
        ((*SERVER_MODE, "a", "--vllm_gpu_memory_utilization", "0.5"), "pass them to `swiftk rollout` instead"),
        ((*SERVER_MODE, "a", "--train_type", "ia3"), "--vllm_mode server with --train_type ia3"),
    ],
)
def test_server_mode_refuses_what_it_cannot_use(argv, message):
    from swiftk.api import UsageError

    with pytest.raises(UsageError, match=message):
        _resolve(*argv)


def test_the_synced_state_dict_is_the_merged_model_under_hugging_face_names():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from swiftk_grpo.server_rollout import hf_state_dict

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(h.TINY_CHAT)
    names = set(base.state_dict())
    full = {k: v.clone() for k, v in hf_state_dict(base).items()}
    assert set(full) == names
    model = get_peft_model(base, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    merged = hf_state_dict(model)
    assert set(merged) == names
    # the adapter is unmerged again, and what was sent is what merging gives
    assert all(torch.allclose(v, before[k], atol=1e-6) for k, v in model.state_dict().items())
    reference = model.merge_and_unload().state_dict()
    for name in names:
        assert torch.allclose(merged[name], reference[name], atol=1e-6), name
    assert not torch.allclose(
        merged["model.layers.0.mlp.down_proj.weight"], full["model.layers.0.mlp.down_proj.weight"]
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_server_is_one_clear_error_after_the_timeout(tmp_path):
    port = _free_port()
    proc = h.cli(
        "rlhf",
        *h.COMMON,
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--reward_funcs",
        "accuracy",
        "--max_steps",
        "1",
        *ON_SERVER,
        str(port),
        "--vllm_server_timeout",
        "2",
        "--output_dir",
        str(tmp_path / "run"),
        timeout=600,
    )
    assert proc.returncode != 0
    assert f"no rollout server answered at http://127.0.0.1:{port} within --vllm_server_timeout 2 s" in proc.stderr


def _prompt_logprobs(port: int, ids: list[int]) -> list[float]:
    """The server's log-probability of each token of ``ids`` after the first (vLLM's prompt_logprobs)."""
    import requests

    response = requests.post(
        f"http://127.0.0.1:{port}/v1/completions",
        json={"model": "tiny-chat", "prompt": ids, "max_tokens": 1, "temperature": 0, "prompt_logprobs": 0},
        timeout=120,
    )
    response.raise_for_status()
    entries = response.json()["choices"][0]["prompt_logprobs"][1:]
    return [entry[str(token)]["logprob"] for token, entry in zip(ids[1:], entries)]


def _model_logprobs(model, ids: list[int]):
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].float()
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]


@pytest.fixture
def rollout_server(tmp_path):
    if not os.path.exists(VLLM_PYTHON):
        pytest.skip(f"no vLLM environment ({VLLM_PYTHON}); `make vllm-env` builds it")
    import requests

    port = _free_port()
    log = open(tmp_path / "rollout.log", "w")
    env = {**os.environ, **h.OFFLINE, "VLLM_CPU_KVCACHE_SPACE": "1", "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [
            VLLM_PYTHON,
            "-m",
            "swiftk",
            "rollout",
            "--model",
            "swiftk/tiny-chat",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--max_model_len",
            "512",
            "--max_num_seqs",
            "16",
            "--enforce_eager",
            "true",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            assert server.poll() is None, (tmp_path / "rollout.log").read_text()[-3000:]
            try:
                if requests.get(f"http://127.0.0.1:{port}/v1/models", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(2)
        else:
            raise AssertionError("swiftk rollout did not come up:\n" + (tmp_path / "rollout.log").read_text()[-3000:])
        yield port
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_lora_grpo_against_a_rollout_server_keeps_its_weights_in_step(tmp_path, rollout_server):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ids = [1, 40, 41, 42, 300, 301, 302, 700, 9, 10, 11, 12, 500, 501]
    served_before = torch.tensor(_prompt_logprobs(rollout_server, ids))
    out = h.grpo(
        tmp_path / "run",
        "--dataset",
        "swiftk/demo-grpo-sums",
        "--reward_funcs",
        "repetition",
        "cosine",
        "--max_steps",
        "3",
        "--save_steps",
        "1",
        "--temperature",
        "1.5",
        "--learning_rate",
        "2e-2",
        "--log_completions",
        "true",
        *ON_SERVER,
        str(rollout_server),
    )
    logs = h.train_logs(out)
    assert len(logs) == 3 and all(row["rollout/seconds"] > 0 for row in logs)
    rows = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(rows) == 3 * 8 and all(isinstance(r["completion"], str) for r in rows)
    # a group's completions are sampled (n seeds), not one completion n times: where the model is unsure they differ
    assert any(len({r["completion"] for r in rows[i : i + 4]}) == 4 for i in range(0, len(rows), 4)), rows
    assert not (out / ".rollout-weights.safetensors").exists()  # the sync file is gone once loaded

    base = AutoModelForCausalLM.from_pretrained(h.TINY_CHAT).eval()
    initial = _model_logprobs(base, ids)
    assert torch.allclose(served_before, initial, atol=1e-3)
    merged = PeftModel.from_pretrained(base, out / "checkpoint-2").merge_and_unload().eval()
    trained = _model_logprobs(merged, ids)
    served_after = torch.tensor(_prompt_logprobs(rollout_server, ids))
    print(
        "logprob shift of the step",
        (trained - initial).abs().max().item(),
        "server vs checkpoint-2",
        (served_after - trained).abs().max().item(),
    )
    assert (trained - initial).abs().max() > 2e-2  # the step changed the policy
    assert torch.allclose(served_after, trained, atol=1e-4)  # and the server samples from it (measured: 3e-6)
    saved = json.loads(Path(out, "args.json").read_text())
    assert saved["vllm_mode"] == "server" and saved["vllm_server_host"] == ["127.0.0.1"]
