"""A real `swiftk app` in a subprocess on a free 127.0.0.1 port, for tests, benchmarks and the screenshot script.

with AppProcess(["--model", "swiftk/tiny-chat", "--stream", "true"]) as app:
    app.url            # http://127.0.0.1:PORT/ once the page answers
    app.wait_ready()   # once the model answers too
"""

from __future__ import annotations

import os
import re
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


class AppProcess:
    """``python -m swiftk app ARGS --server_port <free>``; its output in a temporary file (``log()``), its
    request log (``--result_path``, unless ARGS give one) in a temporary file too. ``page_after``: seconds from
    the start to the page answering; ``page_time``: the part after gradio's import, as the command reports it;
    ``ready_after``: from the start to the model answering."""

    READY_LINE = "[swiftk] app: the model is ready"

    def __init__(self, args: Sequence[str], *, env: Optional[dict] = None, timeout: float = 180.0):
        self.port = free_port()
        self.args = list(args) + ["--server_port", str(self.port)]
        self._own_results = "--result_path" not in self.args
        if self._own_results:
            self.args += ["--result_path", os.path.join(tempfile.gettempdir(), f"swiftk-app-{self.port}.jsonl")]
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
        self.timeout = timeout
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: Optional[subprocess.Popen] = None
        self._log = tempfile.NamedTemporaryFile(prefix="swiftk-app-", suffix=".log", delete=False)
        self.page_after: Optional[float] = None
        self.ready_after: Optional[float] = None
        self.page_time: Optional[float] = None

    def log(self) -> str:
        with open(self._log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def start(self) -> "AppProcess":
        self._started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swiftk", "app", *self.args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        deadline = self._started + self.timeout
        while time.perf_counter() < deadline:
            self._check_alive()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        self.page_after = time.perf_counter() - self._started
                        self._read_page_time(deadline)
                        return self
            except OSError:
                time.sleep(0.02)
        raise TimeoutError(f"swiftk app did not serve {self.url} within {self.timeout:.0f} s:\n{self.log()[-3000:]}")

    def _read_page_time(self, deadline: float) -> None:
        """``page_time``: what the command reports, its page's own start-up (gradio's import aside)."""
        while time.perf_counter() < deadline:
            found = re.search(r"page up ([0-9.]+) s", self.log())
            if found:
                self.page_time = float(found.group(1))
                return
            self._check_alive()
            time.sleep(0.02)

    def wait_ready(self) -> float:
        """Seconds from the start until the model was ready (polls the command's output)."""
        deadline = self._started + self.timeout
        while self.READY_LINE not in self.log():
            self._check_alive()
            if time.perf_counter() > deadline:
                raise TimeoutError(f"the model was not ready within {self.timeout:.0f} s:\n{self.log()[-3000:]}")
            time.sleep(0.02)
        if self.ready_after is None:
            self.ready_after = time.perf_counter() - self._started
        return self.ready_after

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"swiftk app exited with {self.proc.returncode}:\n{self.log()[-3000:]}")

    def stop(self) -> Optional[int]:
        """Ctrl-C, as a user stops it; killed if it is still there after 30 s. Its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> "AppProcess":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
        self._log.close()
        own = [self.args[self.args.index("--result_path") + 1]] if self._own_results else []
        for path in [self._log.name, *own]:
            try:
                os.unlink(path)
            except OSError:
                pass
