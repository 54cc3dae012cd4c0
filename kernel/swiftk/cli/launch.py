"""Start a command under torchrun when ``NPROC_PER_NODE`` or ``NNODES`` asks for it.

The launcher is PyTorch's own (``python -m torch.distributed.run``); each worker runs
``python -m swiftk <command> ...`` with the arguments the parent already validated, and the
output folder the parent resolved, so that every rank writes to the same ``v<N>-<time>`` folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Mapping, Optional, Sequence

from swiftk.errors import UsageError

#: Commands that never run under torchrun (servers and UIs).
NOT_DISTRIBUTED = {"deploy", "app", "web-ui"}

_TORCHRUN_ENV = {
    "NPROC_PER_NODE": "--nproc_per_node",
    "NNODES": "--nnodes",
    "NODE_RANK": "--node_rank",
    "MASTER_ADDR": "--master_addr",
    "MASTER_PORT": "--master_port",
}


def in_worker() -> bool:
    """True inside a process that torchrun started."""
    return "TORCHELASTIC_RUN_ID" in os.environ or "LOCAL_RANK" in os.environ


def torchrun_requested(command: str) -> bool:
    if command in NOT_DISTRIBUTED or in_worker():
        return False
    return bool(os.environ.get("NPROC_PER_NODE") or os.environ.get("NNODES"))


def torchrun_command(worker_argv: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run <env-derived options> -m swiftk <worker_argv>``."""
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    for env, option in _TORCHRUN_ENV.items():
        value = os.environ.get(env)
        if value:
            if env in ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_PORT") and not value.isdigit():
                raise UsageError(f"environment variable {env} must be an integer, got '{value}'")
            cmd += [option, value]
    return cmd + ["-m", "swiftk", *worker_argv]


def maybe_launch(command: str, argv: Sequence[str], config: Mapping[str, Any], args: Any) -> Optional[int]:
    """Run ``command`` under torchrun if asked to; returns its exit code, or None to run here."""
    if not torchrun_requested(command):
        return None
    worker_argv = [command, *argv]
    with tempfile.TemporaryDirectory(prefix="swiftk-launch-") as tmp:
        merged = dict(config)
        if args.get("output_dir"):
            merged["output_dir"] = args.output_dir
            if "add_version" in args:
                merged["add_version"] = False
        if args.get("result_path"):
            merged["result_path"] = args.result_path  # one timestamped default for every rank
        if merged:
            path = os.path.join(tmp, "config.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(merged, f, ensure_ascii=False)
            # the command line still wins over this file, as it did in the parent
            worker_argv += ["--config", path]
            worker_argv = _drop_overridden(worker_argv, merged)
        command_line = torchrun_command(worker_argv)
        shown = masked(command_line, args.secret_names() if hasattr(args, "secret_names") else set())
        sys.stderr.write(f"swiftk: starting under torchrun: {' '.join(shown)}\n")
        return subprocess.call(command_line)


def masked(command_line: Sequence[str], secrets: set) -> list[str]:
    """The command line as printed: the value of each secret argument (``--hub_token X``, ``--api_key=X``)
    replaced by ``***``."""
    shown, hide_next = [], False
    for word in command_line:
        name, eq, _ = word.partition("=")
        if hide_next:
            shown.append("***")
        elif eq and name.startswith("--") and name[2:] in secrets:
            shown.append(f"{name}=***")
        else:
            shown.append(word)
        hide_next = not eq and word.startswith("--") and word[2:] in secrets
    return shown


def _drop_overridden(worker_argv: list[str], merged: Mapping[str, Any]) -> list[str]:
    """Remove ``--output_dir``/``--add_version``/``--result_path`` from the command line: the parent
    resolved them."""
    from swiftk.cli.builtin import take_flag

    rest = worker_argv
    for name in ("output_dir", "add_version", "result_path"):
        if name in merged:
            rest, _ = take_flag(rest, f"--{name}")
    return rest
