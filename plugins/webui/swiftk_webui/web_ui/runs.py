"""The run registry: runs the web-ui started, one JSON file each, so a reloaded page (or a restarted web-ui)
lists them again and reattaches to their log and curves.

A run is a detached process (its own session, so closing the browser or the web-ui never kills it) whose
output goes to its own log file; a small launcher (launcher.py) waits for it and records its exit status.
Files under ``$SWIFTK_WEBUI_HOME`` (default ``~/.cache/swiftk/webui``), ``runs/<id>.*``: ``.json`` the record
(written atomically, by the web-ui only), ``.log`` the output, ``.child`` the run's PID, ``.exit`` its status.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any, Optional, Sequence

HOME_ENV = "SWIFTK_WEBUI_HOME"
#: exit statuses of a run stopped by SIGINT (Ctrl-C) or SIGTERM: "stopped", not "failed"
STOPPED_CODES = frozenset({130, 143, -2, -15})
_LOCK = ".swiftk-run.lock"  # what a training run holds in its folder (swiftk.io), with "pid N on HOST" in it


def default_home() -> str:
    return os.environ.get(HOME_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "swiftk", "webui")


def swiftk_command() -> list[str]:
    """How to start swiftk with this interpreter: the console script next to it, else ``python -m swiftk``."""
    script = os.path.join(os.path.dirname(sys.executable), "swiftk")
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "swiftk"]


@dataclass
class Run:
    """One run's record (``runs/<id>.json``)."""

    id: str
    command: str  # the swiftk command: sft, deploy, ...
    argv: list  # its arguments (secrets masked)
    command_line: str  # the whole command line as started (secrets masked)
    cwd: str
    pid: int  # the launcher's PID, also the process group of the run
    started: float
    output_root: Optional[str] = None  # where a training run makes its vN-<time> folder
    run_dir: Optional[str] = None  # that folder, once found
    url: Optional[str] = None  # a deploy run's OpenAI-compatible base URL
    parent: Optional[str] = None  # the run whose checkpoint this one uses


@dataclass(frozen=True)
class Status:
    state: str  # running, finished, stopped, failed
    exit_code: Optional[int]  # None while running or when unknown


class RunStore:
    """The runs under one folder; every method reads the files again, so two pages (or a restart) agree."""

    def __init__(self, home: Optional[str] = None):
        self.home = os.path.abspath(home or default_home())
        self.folder = os.path.join(self.home, "runs")
        os.makedirs(self.folder, exist_ok=True)
        self._children: dict[str, subprocess.Popen] = {}  # launchers started by this process (reaped on poll)

    def path(self, run_id: str, suffix: str) -> str:
        return os.path.join(self.folder, f"{run_id}{suffix}")

    # -- starting ----------------------------------------------------------------------------------------------
    def launch(
        self,
        command: str,
        argv: Sequence[str],
        *,
        shown_argv: Optional[Sequence[str]] = None,
        cwd: Optional[str] = None,
        program: Optional[Sequence[str]] = None,
        **meta: Any,
    ) -> Run:
        """Start ``swiftk <command> argv`` (or ``program``) detached; record and return the run.

        ``shown_argv`` is what is recorded and shown (secrets masked); ``program`` replaces the whole command
        (the tests start a small Python script)."""

        cwd = os.path.abspath(cwd or os.getcwd())
        run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        env = None
        if program is None and shown_argv is not None:
            argv, secrets = split_secrets(argv, shown_argv)
            env = {**os.environ, **secrets} if secrets else None
        full = list(program) if program is not None else [*swiftk_command(), command, *argv]
        shown = list(program) if program is not None else [*swiftk_command(), command, *(shown_argv or argv)]
        launcher = [sys.executable, "-m", "swiftk_webui.web_ui.launcher"]
        launcher += [self.path(run_id, ".exit"), self.path(run_id, ".child"), "--", *full]
        with open(self.path(run_id, ".log"), "ab") as log:
            proc = subprocess.Popen(
                launcher,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        self._children[run_id] = proc
        run = Run(
            id=run_id,
            command=command,
            argv=list(shown_argv or argv),
            command_line=shlex.join(shown),
            cwd=cwd,
            pid=proc.pid,
            started=time.time(),
            **meta,
        )
        self.save(run)
        return run

    def save(self, run: Run) -> None:
        from swiftk.api import atomic_write_text

        atomic_write_text(self.path(run.id, ".json"), json.dumps(asdict(run), ensure_ascii=False, indent=1))

    # -- reading -----------------------------------------------------------------------------------------------
    def get(self, run_id: str) -> Optional[Run]:
        try:
            with open(self.path(run_id, ".json"), encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        known = set(Run.__dataclass_fields__)
        return Run(**{k: v for k, v in data.items() if k in known})

    def runs(self) -> list[Run]:
        """Every recorded run, newest first."""
        found = [self.get(os.path.basename(p)[: -len(".json")]) for p in glob.glob(os.path.join(self.folder, "*.json"))]
        return sorted((r for r in found if r is not None), key=lambda r: r.started, reverse=True)

    def exit_code(self, run: Run) -> Optional[int]:
        try:
            with open(self.path(run.id, ".exit"), encoding="utf-8") as f:
                return int(json.load(f)["exit_code"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def alive(self, run: Run) -> bool:
        """Whether the run's launcher still runs (a PID reused by another program does not count)."""
        child = self._children.get(run.id)
        if child is not None:
            return child.poll() is None
        try:
            os.kill(run.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False  # another user's process now holds the PID
        try:
            with open(f"/proc/{run.pid}/cmdline", "rb") as f:
                return b"swiftk_webui.web_ui.launcher" in f.read()
        except OSError:
            return True  # no /proc: trust the PID

    def status(self, run: Run) -> Status:
        code = self.exit_code(run)
        if code is not None:
            if code == 0:
                return Status("finished", 0)
            return Status("stopped" if code in STOPPED_CODES else "failed", code)
        if self.alive(run):
            return Status("running", None)
        code = self.exit_code(run)  # it may have ended between the two reads
        if code is not None:
            return self.status(run)
        return Status("failed", None)  # killed with its launcher (SIGKILL, a reboot): the status is unknown

    def child_pid(self, run: Run) -> Optional[int]:
        try:
            with open(self.path(run.id, ".child"), encoding="utf-8") as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def tail(self, run: Run, lines: int = 60, max_bytes: int = 32768, width: Optional[int] = None) -> str:
        """The end of the run's log; progress bars' carriage returns become line breaks; lines longer than
        ``width`` are cut (token id dumps)."""
        try:
            with open(self.path(run.id, ".log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                data = f.read()
        except OSError:
            return ""
        text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
        kept = [line for line in text.split("\n") if line.strip()][-lines:]
        if width:
            kept = [line if len(line) <= width else line[: width - 1] + "…" for line in kept]
        return "\n".join(kept)

    # -- stopping ----------------------------------------------------------------------------------------------
    def stop(self, run: Run) -> bool:
        """SIGINT to the run's process group (the run saves and exits as on Ctrl-C); False when it had ended."""
        if self.status(run).state != "running":
            return False
        try:
            os.killpg(run.pid, signal.SIGINT)
        except ProcessLookupError:
            return False
        return True

    def wait(self, run: Run, timeout: float) -> Status:
        """Wait until the run has ended (or ``timeout`` seconds); its status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status(run)
            if status.state != "running":
                return status
            time.sleep(0.2)
        return self.status(run)

    # -- what a training run wrote -------------------------------------------------------------------------------
    def find_run_dir(self, run: Run) -> Optional[str]:
        """The folder a training run writes (found by the PID in its run lock), remembered once found."""
        if run.run_dir or not run.output_root:
            return run.run_dir
        pid = self.child_pid(run)
        if pid is None:
            return None
        root = os.path.join(run.cwd, run.output_root)
        mark = f"pid {pid} on "
        for depth in ("", "*", "*/*"):
            for lock in glob.glob(os.path.join(root, depth, _LOCK)):
                try:
                    with open(lock, encoding="utf-8", errors="replace") as f:
                        owner = f.read(200)
                except OSError:
                    continue
                if owner.startswith(mark):
                    run.run_dir = os.path.dirname(lock)
                    self.save(run)
                    return run.run_dir
        return None


def last_checkpoint(run_dir: Optional[str]) -> Optional[str]:
    """The ``checkpoint-N`` folder with the highest N (complete: its trainer_state.json is written last)."""
    if not run_dir:
        return None
    found = []
    for path in glob.glob(os.path.join(run_dir, "checkpoint-*")):
        step = path.rsplit("-", 1)[-1]
        if step.isdigit() and os.path.isfile(os.path.join(path, "trainer_state.json")):
            found.append((int(step), path))
    return max(found)[1] if found else None


def read_curves(run_dir: Optional[str], keys: Sequence[str] = ("loss", "learning_rate")) -> dict[str, list]:
    """``{key: [(global_step, value), ...]}`` from the run's logging.jsonl (a half-written last line is skipped)."""
    curves: dict[str, list] = {key: [] for key in keys}
    if not run_dir:
        return curves
    try:
        with open(os.path.join(run_dir, "logging.jsonl"), encoding="utf-8") as f:
            lines = f.readlines()
    except OSError:
        return curves
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        step = row.get("global_step")
        for key in keys:
            value = row.get(key)
            if isinstance(value, (int, float)) and isinstance(step, int):
                curves[key].append((step, float(value)))
    return curves


def split_secrets(argv: Sequence[str], shown: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``argv`` without its secret flags (those ``shown``, the masked copy, hides), and their values as
    ``SWIFTK_SECRET_<NAME>`` environment variables, which the kernel reads: a command line is readable by every
    local user (ps), a process's environment only by its owner."""
    from swiftk_webui.web_ui.forms import SECRET_MASK

    def variable(flag: str) -> str:
        return "SWIFTK_SECRET_" + flag[2:].upper()

    out: list[str] = []
    secrets: dict[str, str] = {}
    i = 0
    while i < len(argv):
        token, seen = argv[i], shown[i]
        if token.startswith("--") and "=" in token and seen.endswith("=" + SECRET_MASK):
            name, _, value = token.partition("=")
            secrets[variable(name)] = value
            i += 1
        elif token.startswith("--") and i + 1 < len(argv) and shown[i + 1] == SECRET_MASK:
            secrets[variable(token)] = argv[i + 1]
            i += 2
        else:
            out.append(token)
            i += 1
    return out, secrets
