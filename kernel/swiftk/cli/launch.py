"""Start a command under torchrun when ``NPROC_PER_NODE`` or ``NNODES`` asks for it (or ``--deepspeed``, as one rank).

The launcher is PyTorch's own (``python -m torch.distributed.run``); each worker runs
``python -m swiftk <command> ...`` with the arguments the parent already validated, and the
output folder the parent resolved, so that every rank writes to the same ``v<N>-<time>`` folder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any, Mapping, Optional, Sequence

from swiftk.errors import UsageError

#: Commands that never run under torchrun (servers and UIs).
NOT_DISTRIBUTED = {"deploy", "app", "web-ui", "rollout"}
#: The training commands, checked before torchrun starts their ranks (:func:`check_training`).
TRAINING = {"sft", "pt", "rlhf"}
#: Seconds a node waits for the master (and the master for every node) before it gives up: torchrun's own
#: rendezvous default is 10 minutes, and a typo in MASTER_ADDR should not cost that long.
NODE_TIMEOUT_ENV = "SWIFTK_NODE_TIMEOUT"
DEFAULT_NODE_TIMEOUT = 300

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


def torchrun_requested(command: str, args: Any = None) -> bool:
    """``NPROC_PER_NODE``/``NNODES`` ask for torchrun; so does ``--deepspeed`` alone, which needs a process group
    even for one rank (DeepSpeed would look for MPI and fail)."""
    if command in NOT_DISTRIBUTED or in_worker():
        return False
    if os.environ.get("NPROC_PER_NODE") or os.environ.get("NNODES"):
        return True
    return command in TRAINING and args is not None and bool(args.get("deepspeed"))


def torchrun_command(worker_argv: Sequence[str]) -> list[str]:
    """``python -m torch.distributed.run <env-derived options> -m swiftk <worker_argv>`` (``--standalone``, one
    rank on a free port, when no launcher variable is set)."""
    cmd = [sys.executable, "-m", "torch.distributed.run"]
    if not any(os.environ.get(env) for env in _TORCHRUN_ENV):
        cmd.append("--standalone")
    for env, option in _TORCHRUN_ENV.items():
        value = os.environ.get(env)
        if value:
            if env in ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_PORT") and not value.isdigit():
                raise UsageError(f"environment variable {env} must be an integer, got '{value}'")
            cmd += [option, value]
    if int(os.environ.get("NNODES") or 1) > 1:
        cmd += ["--rdzv_conf", f"timeout={node_timeout()}"]  # the static rendezvous waits this long for the nodes
    return cmd + ["-m", "swiftk", *worker_argv]


def node_timeout() -> int:
    value = os.environ.get(NODE_TIMEOUT_ENV) or str(DEFAULT_NODE_TIMEOUT)
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"environment variable {NODE_TIMEOUT_ENV} must be a positive number of seconds, got '{value}'")
    return int(value)


def check_nodes() -> None:
    """Several nodes: NODE_RANK within NNODES, and a node other than 0 reaches the master in time (torchrun
    would wait its rendezvous timeout and end in a page of traceback; this says what to check, in one line)."""
    nnodes = int(os.environ.get("NNODES") or 1)
    node_rank = int(os.environ.get("NODE_RANK") or 0)
    if nnodes <= 1:
        return
    if node_rank >= nnodes:
        raise UsageError(f"environment variable NODE_RANK={node_rank} must be below NNODES={nnodes} (0..{nnodes - 1})")
    if node_rank == 0:
        return
    addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if not addr or not port:
        raise UsageError(
            f"NNODES={nnodes} NODE_RANK={node_rank}: set MASTER_ADDR and MASTER_PORT to node 0's address and a port "
            f"it listens on (the same values on every node)"
        )
    wait_for_master(addr, int(port), node_timeout())


def wait_for_master(addr: str, port: int, timeout: float) -> None:
    """Poll ``addr:port`` until node 0's torchrun accepts a connection, or raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((addr, port), timeout=min(5.0, timeout)):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise UsageError(
                    f"node {os.environ.get('NODE_RANK')} could not reach the master MASTER_ADDR={addr} "
                    f"MASTER_PORT={port} within {timeout:g} s ({e.strerror or e}): start node 0 first, check the "
                    f"address, port and firewall, or wait longer with {NODE_TIMEOUT_ENV}=<seconds>"
                ) from None
            time.sleep(0.5)


def maybe_launch(command: str, argv: Sequence[str], config: Mapping[str, Any], args: Any) -> Optional[int]:
    """Run ``command`` under torchrun if asked to; returns its exit code, or None to run here."""
    if not torchrun_requested(command, args):
        return None
    torchrun_command([])  # the launcher variables are checked before a node waits for the master
    checked = check_training(command, args)
    check_nodes()
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
        return subprocess.call(command_line, env={**os.environ, checked: "1"} if checked else None)


def check_training(command: str, args: Any) -> Optional[str]:
    """For a training command, the checks before loading (``--fsdp`` without GPUs, the memory preflight) run
    here, once, for all the ranks torchrun will start: the environment variable that tells the ranks so, or
    None when the checks are left to them (not training, or a --model that the ranks will report on)."""
    if command not in TRAINING or not args.get("model"):
        return None
    from swiftk.pipelines.model import resolve_model
    from swiftk.pipelines.train import CHECKED_ENV, check_before_loading

    try:
        resolve_model(args)
    except UsageError:
        return None
    nproc, nnodes = int(os.environ.get("NPROC_PER_NODE") or 1), int(os.environ.get("NNODES") or 1)
    check_before_loading(args, world=nproc * nnodes, local=nproc)
    return CHECKED_ENV


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
