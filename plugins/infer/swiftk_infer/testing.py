"""A real ``swiftk deploy`` in a subprocess on a free 127.0.0.1 port, for tests and benchmarks.

with DeployProcess(["--model", "swiftk/tiny-chat"]) as server:
    OpenAI(base_url=server.base_url, api_key="-").models.list()
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Optional, Sequence


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DeployProcess:
    """``python -m swiftk deploy ARGS --host 127.0.0.1 --port <free>``, its output kept in a file, and its
    request log (``--result_path``, unless ARGS give one) in a temporary file, not under the current folder."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Optional[dict] = None,
        startup_timeout: float = 120.0,
        python: Optional[str] = None,
    ):
        self.port = free_port()
        self.args = list(args) + ["--host", "127.0.0.1", "--port", str(self.port)]
        self._own_results = "--result_path" not in self.args
        if self._own_results:
            self.args += [
                "--result_path",
                os.path.join(tempfile.gettempdir(), f"swiftk-deploy-{self.port}-{os.getpid()}.jsonl"),
            ]
        self.result_path = self.args[self.args.index("--result_path") + 1]
        self.env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            **(env or {}),
        }
        self.startup_timeout = startup_timeout
        self.python = python or sys.executable
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc: Optional[subprocess.Popen] = None
        self._log = tempfile.NamedTemporaryFile(prefix="swiftk-deploy-", suffix=".log", delete=False)
        self.ready_after: Optional[float] = None

    def start(self) -> "DeployProcess":
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            [self.python, "-m", "swiftk", "deploy", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = started + self.startup_timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"swiftk deploy exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        self.ready_after = time.perf_counter() - started
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"swiftk deploy was not ready in {self.startup_timeout}s:\n{self.log()[-3000:]}")

    def health(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as response:
            return json.loads(response.read())

    def log(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def terminate(self) -> None:
        """SIGTERM: the server finishes the requests in flight, then exits."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> "DeployProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        for path in [self._log.name] + ([self.result_path] if self._own_results else []):
            try:
                os.unlink(path)
            except OSError:
                pass
