"""What the page's buttons do, as plain functions of the run registry (the page only wires them; tests call them).

Runs from a finished training run (resume, deploy, merge/export) are new runs in the registry, detached too.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Optional, Sequence

from swiftk.api import UsageError
from swiftk_webui.web_ui.forms import Field, build_argv, flag_value, masked, replace_flag
from swiftk_webui.web_ui.runs import Run, RunStore, last_checkpoint, read_curves

TRAIN_COMMANDS = frozenset({"sft", "pt", "rlhf"})


def launch_form(store: RunStore, command: str, fields: Sequence[Field], values: Sequence[Any], cwd: str) -> Run:
    """Start ``swiftk <command>`` with the arguments of a filled form (those changed from the default)."""
    argv = build_argv(command, fields, values)
    return launch_argv(store, command, argv, masked(argv, fields), cwd)


def launch_argv(store: RunStore, command: str, argv: Sequence[str], shown: Sequence[str], cwd: str, **meta: Any) -> Run:
    output_root = None
    if command in TRAIN_COMMANDS:
        given = flag_value(argv, "output_dir")
        output_root = given[0] if given else "output"
    return store.launch(command, list(argv), shown_argv=list(shown), cwd=cwd, output_root=output_root, **meta)


def _run(store: RunStore, run_id: Optional[str]) -> Run:
    from swiftk.api import UsageError

    run = store.get(run_id) if run_id else None
    if run is None:
        raise UsageError(f"run: no run '{run_id or ''}' in {store.folder}")
    return run


def checkpoint_of(store: RunStore, run_id: Optional[str]) -> str:
    """The last complete checkpoint of a training run, or one UsageError saying there is none yet."""
    from swiftk.api import UsageError

    run = _run(store, run_id)
    ckpt = last_checkpoint(store.find_run_dir(run))
    if ckpt is None:
        raise UsageError(f"run {run.id}: no checkpoint yet (a training run saves one every --save_steps)")
    return ckpt


def resume_run(store: RunStore, run_id: Optional[str]) -> Run:
    """The same training command again, with ``--resume_from_checkpoint`` its last checkpoint."""
    from swiftk.api import UsageError

    run = _run(store, run_id)
    if run.command not in TRAIN_COMMANDS:
        raise UsageError(f"run {run.id}: only a training run (sft, pt, rlhf) resumes, not {run.command}")
    if "***" in run.argv:
        raise UsageError(f"run {run.id}: its command line holds a secret; launch it again from the form")
    ckpt = checkpoint_of(store, run_id)
    argv = replace_flag(run.argv, "resume_from_checkpoint", [ckpt])
    return launch_argv(store, run.command, argv, argv, run.cwd, parent=run.id)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_full_checkpoint(ckpt: str) -> bool:
    """A full-parameter checkpoint (a model folder) rather than an adapter (peft's or a native tuner's)."""
    adapter = any(os.path.isfile(os.path.join(ckpt, name)) for name in ("adapter_config.json", "swiftk_tuner.json"))
    return not adapter and os.path.isfile(os.path.join(ckpt, "config.json"))


def deploy_run(store: RunStore, run_id: Optional[str], port: Optional[int] = None) -> Run:
    """``swiftk deploy`` of a training run's last checkpoint (``--adapters``, or ``--model`` for full weights), on
    127.0.0.1 and a free port."""
    ckpt = checkpoint_of(store, run_id)
    run = _run(store, run_id)
    port = port or free_port()
    argv = ["--model" if is_full_checkpoint(ckpt) else "--adapters", ckpt, "--host", "127.0.0.1", "--port", str(port)]
    return launch_argv(store, "deploy", argv, argv, run.cwd, parent=run.id, url=f"http://127.0.0.1:{port}/v1")


def export_run(store: RunStore, run_id: Optional[str]) -> Run:
    """``swiftk export --adapters CKPT --merge_lora true``: the base model with the adapter merged in."""
    ckpt = checkpoint_of(store, run_id)
    run = _run(store, run_id)
    if is_full_checkpoint(ckpt):
        raise UsageError(f"run {run.id}: {ckpt} holds full weights (--train_type full): there is no adapter to merge")
    argv = ["--adapters", ckpt, "--merge_lora", "true"]
    return launch_argv(store, "export", argv, argv, run.cwd, parent=run.id)


def _get_json(url: str, body: Optional[dict] = None, timeout: float = 120.0) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode())


def wait_ready(url: str, timeout: float) -> Optional[str]:
    """The served model's name once ``url/models`` answers, or None after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get_json(f"{url}/models", timeout=5)["data"][0]["id"]
        except (OSError, urllib.error.URLError, ValueError, KeyError, IndexError):
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.5)


def chat_reply(url: str, history: Sequence[dict], message: str, *, wait_s: float = 90.0, max_tokens: int = 64) -> str:
    """One answer of the deployed checkpoint to ``history`` + ``message`` (OpenAI chat messages)."""
    from swiftk.api import UsageError

    model = wait_ready(url, wait_s)
    if model is None:
        raise UsageError(f"chat: the server at {url} did not answer within {wait_s:.0f} s (see its run's log)")
    messages = [{"role": m["role"], "content": m["content"]} for m in history if m.get("role") in ("user", "assistant")]
    messages.append({"role": "user", "content": message})
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0}
    answer = _get_json(f"{url}/chat/completions", body)
    return answer["choices"][0]["message"]["content"] or ""


def run_view(
    store: RunStore, run_id: Optional[str], log_lines: int = 16, log_width: Optional[int] = None
) -> dict[str, Any]:
    """What the page shows of one run: state, exit status, command line, log tail, curves, last checkpoint."""
    run = store.get(run_id) if run_id else None
    if run is None:
        return {"run": None}
    status = store.status(run)
    run_dir = store.find_run_dir(run)
    return {
        "run": run,
        "state": status.state,
        "exit_code": status.exit_code,
        "command_line": run.command_line,
        "log": store.tail(run, lines=log_lines, width=log_width),
        "curves": read_curves(run_dir),
        "checkpoint": last_checkpoint(run_dir),
        "run_dir": run_dir,
    }
