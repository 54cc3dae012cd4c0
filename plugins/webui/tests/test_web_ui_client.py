"""`swiftk web-ui`'s wiring through gradio_client (the page's named endpoints, in Chinese), and the command
itself: listening on 127.0.0.1 unless --server_name is given, the warning when open without a login."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from swiftk_webui.web_ui.forms import form_fields
from swiftk_webui.web_ui.page import build_page
from swiftk_webui.web_ui.runs import RunStore

SLEEPER = textwrap.dedent(
    """
    import sys, time
    print("step 1", flush=True)
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving(url: str, timeout: float, proc: subprocess.Popen) -> bool:
    """Wait until `url` answers (True) or the server process exits (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start_web_ui(folder: Path, flags: list, auth: str = "") -> tuple[subprocess.Popen, int, Path]:
    """`swiftk web-ui --lang en` on a free port, once it answers; tried again on an early exit (the port taken
    meanwhile, or gradio's own check of its URL timing out on a loaded machine), three times at most."""
    env = {**os.environ, "SWIFTK_WEBUI_HOME": str(folder / "home")}
    env.pop("SWIFTK_WEBUI_AUTH", None)
    if auth:
        env["SWIFTK_WEBUI_AUTH"] = auth
    for attempt in range(3):
        port, log = free_port(), folder / f"web-ui-{attempt}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "swiftk", "web-ui", "--lang", "en", "--server_port", str(port), *flags],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if serving(f"http://127.0.0.1:{port}/", 90, proc):
            return proc, port, log
    raise AssertionError(f"swiftk web-ui exited with status {proc.returncode}:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The page (zh) served once for the module (in this process), with its run registry."""
    from gradio_client import Client

    home = tmp_path_factory.mktemp("webui")
    store = RunStore(str(home / "home"))
    demo = build_page("zh", store=store, cwd=str(home))
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        yield Client(f"http://127.0.0.1:{port}/", verbose=False), store
    finally:
        demo.close()
        for run in store.runs():
            if store.stop(run):
                store.wait(run, 10)


def sft_values(**changes):
    fields = form_fields("sft")
    return [changes.get(f.name, f.value) for f in fields]


def test_preview_builds_the_command_line_from_the_form(served):
    client, _ = served
    line, message = client.predict("pt", *sft_values(max_steps="5", lora_rank="4"), api_name="/preview_sft")
    assert line.endswith("swiftk pt --max_steps 5 --lora_rank 4") and message == ""
    line, message = client.predict("sft", *sft_values(save_steps="often"), api_name="/preview_sft")
    assert message == "--save_steps expects a number, got 'often'"


def test_runs_are_listed_viewed_and_stopped(served, tmp_path: Path):
    client, store = served
    run = store.launch("sft", ["--max_steps", "3"], cwd=str(tmp_path), program=[sys.executable, "-c", SLEEPER])
    listed = client.predict(None, api_name="/refresh_runs")
    assert listed["value"] == run.id  # a fresh page attaches to the newest run
    assert listed["choices"] == [[f"{run.id} · sft", run.id]]
    deadline = time.monotonic() + 20
    while "step 1" not in client.predict(run.id, api_name="/view_run")[2] and time.monotonic() < deadline:
        time.sleep(0.2)
    status, command_line, log, *_ = client.predict(run.id, api_name="/view_run")
    assert status == f"{run.id} · sft · 运行中" and "step 1" in log and command_line == run.command_line
    assert client.predict(run.id, api_name="/stop_run") == "已发送 SIGINT"
    store.wait(run, 15)
    assert client.predict(run.id, api_name="/view_run")[0] == f"{run.id} · sft · 已停止 (退出状态 130)"
    assert client.predict(run.id, api_name="/stop_run") == "该运行已结束"
    message, *_ = client.predict(run.id, api_name="/resume_run")
    assert message == f"run {run.id}: no checkpoint yet (a training run saves one every --save_steps)"
    assert client.predict("", [], "你好", api_name="/chat")[2] == "对话服务尚未就绪，请稍后再试"


def listening_address(port: int) -> str:
    """The local address a TCP port listens on, from /proc/net/tcp ('127.0.0.1', '0.0.0.0')."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # LISTEN
            return ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return ""


@pytest.mark.slow  # a whole `swiftk web-ui` process each (about 10 s)
@pytest.mark.parametrize(
    "flags, auth, address",
    [([], "", "127.0.0.1"), (["--server_name", "0.0.0.0"], "admin:s3cret-pass", "0.0.0.0")],
    ids=["loopback-by-default", "open-with-a-login"],
)
def test_the_command_listens_where_told(tmp_path: Path, flags, auth, address):
    proc, port, log = start_web_ui(tmp_path, flags, auth)
    try:
        assert listening_address(port) == address
        assert "s3cret-pass" not in log.read_text()
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize("flags", [["--server_name", "0.0.0.0"], ["--share", "true"]], ids=["open", "share"])
def test_beyond_loopback_without_a_login_is_refused(tmp_path: Path, flags):
    env = {k: v for k, v in os.environ.items() if k != "SWIFTK_WEBUI_AUTH"}
    done = subprocess.run([sys.executable, "-m", "swiftk", "web-ui", *flags], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "the web UI runs commands on this machine, so beyond 127.0.0.1 it needs a login" in done.stderr


def test_a_bad_language_is_one_usage_error(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "swiftk", "web-ui", "--lang", "fr"], cwd=tmp_path, capture_output=True, text=True
    )
    assert (
        done.returncode == 2 and done.stderr.strip() == "swiftk: error: --lang: 'fr' is not valid; choose from zh, en"
    )
