"""`swiftk deploy` with adapters served by name, SIGTERM while requests run, the exposure warning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from swiftk_infer.testing import DeployProcess

openai = pytest.importorskip("openai")


def make_lora(folder, seed=0, scale=0.5):
    """A LoRA adapter for tiny-chat (q_proj, v_proj; 4 layers) with random, non-zero weights."""
    import torch
    from safetensors.torch import save_file

    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in range(4):
        for proj, out in (("q_proj", 128), ("v_proj", 64)):
            prefix = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            tensors[f"{prefix}.lora_A.weight"] = torch.randn(4, 128, generator=g) * scale
            tensors[f"{prefix}.lora_B.weight"] = torch.randn(out, 4, generator=g) * scale
    save_file(tensors, os.path.join(folder, "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": 4,
        "lora_alpha": 8,
        "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"],
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "base_model_name_or_path": None,
    }
    with open(os.path.join(folder, "adapter_config.json"), "w") as f:
        json.dump(config, f)
    return str(folder)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    lora = make_lora(tmp_path_factory.mktemp("lora1"))
    proc = DeployProcess(
        [
            "--model",
            "swiftk/tiny-chat",
            "--adapters",
            f"lora1={lora}",
            "--served_model_name",
            "tiny",
            "--verbose",
            "false",
        ],
        env={"OMP_NUM_THREADS": "1"},
    ).start()
    yield proc
    proc.stop()


def ask(client, model, prompt, **kw):
    kw = {"max_tokens": 24, "temperature": 0, **kw}
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompt}], **kw)


def test_adapters_are_served_by_name_in_mixed_batches(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="-", max_retries=0, timeout=120)
    assert [m.id for m in client.models.list().data] == ["tiny", "lora1"]
    base = ask(client, "tiny", "What is 3 + 4?").choices[0].message.content
    tuned = ask(client, "lora1", "What is 3 + 4?").choices[0].message.content
    assert "7" in base and tuned != base
    jobs = [("tiny" if i % 2 else "lora1", "What is 3 + 4?") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda job: ask(client, *job), jobs))
    for (model, _), answer in zip(jobs, answers):
        assert answer.model == model
        assert answer.choices[0].message.content == (base if model == "tiny" else tuned)


def test_sigterm_finishes_requests_in_flight_then_exits(server):
    client = openai.OpenAI(base_url=server.base_url, api_key="-", max_retries=0, timeout=120)
    results = {}

    def long_request(key, **kw):
        results[key] = ask(client, "tiny", "Tell me a joke.", max_tokens=300, extra_body={"ignore_eos": True}, **kw)

    threads = [
        threading.Thread(target=long_request, args=("plain",)),
        threading.Thread(
            target=lambda: results.__setitem__(
                "stream", list(ask(client, "lora1", "Hi", max_tokens=300, stream=True, extra_body={"ignore_eos": True}))
            )
        ),
    ]
    for t in threads:
        t.start()
    deadline = time.time() + 30
    while server.health()["running"] < 2 and time.time() < deadline:
        time.sleep(0.01)
    assert server.health()["running"] == 2
    server.terminate()
    for t in threads:
        t.join(60)
    assert server.proc.wait(60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    assert results["plain"].usage.completion_tokens == 300 and results["plain"].choices[0].finish_reason == "length"
    assert [c.choices[0].finish_reason for c in results["stream"] if c.choices][-1] == "length"
    with pytest.raises(openai.APIConnectionError):  # no longer listening
        client.models.list()


def test_warns_when_listening_beyond_loopback_without_api_key(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "swiftk", "deploy", "--model", str(tmp_path / "missing"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert "without --api_key" in proc.stdout + proc.stderr
    assert proc.returncode == 2  # then the missing model is reported as usual
