"""``swiftk export --push_to_hub true``: what reaches the hub, through the real CLI in this process.

Hugging Face: the real ``huggingface_hub`` calls, with ``huggingface_hub.set_client_factory`` given an
``httpx2.MockTransport`` that answers as the Hub does (repo creation, README metadata check, preupload,
commit) and records every request.  ModelScope: the real modelscope SDK against a small HTTP server on
127.0.0.1 (``MODELSCOPE_ENDPOINT``) answering its legacy API (repo creation, LFS batch, blob PUT, commit).
Each test asserts what was created (visibility), which files the commit carries (every file of the
folder but the run-internal ones), the commit message, and that the token travels only in the
request's auth headers: never in the output or in a file.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import shutil
import threading
from pathlib import Path
from typing import Any, Optional

import pytest

import models_helpers  # noqa: F401  (offline for everything else)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HF_TOKEN = "hf_SecretUploadToken123"
MS_TOKEN = "ms-SecretUploadToken456"
RUN_INTERNAL = {".swiftk-run.lock", "__pycache__/hub_probe.cpython-311.pyc", ".staging/checkpoint-9/partial.bin"}


def _cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """``swiftk argv`` in this process (so the client factory applies): exit code, stdout, stderr."""
    from swiftk.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def _one_error_line(err: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("swiftk: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err[-3000:]
    return errors[0]


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative posix path."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _uploadable(folder: Path) -> dict[str, bytes]:
    """What must be committed: every file but what the run keeps for itself (and hub clients' own records)."""
    return {
        k: v
        for k, v in _files(folder).items()
        if k not in RUN_INTERNAL and k != ".swiftk-run.lock" and not k.startswith(".ms_upload")
    }


def _assert_token_nowhere(token: str, *texts: str, folders: tuple = ()) -> None:
    for text in texts:
        assert token not in text
    for folder in folders:
        for name, data in _files(Path(folder)).items():
            assert token.encode() not in data, f"the token was written into {folder}/{name}"


def _model_folder(tmp_path: Path) -> Path:
    """A model folder as far as resolving it goes (its config names a Qwen2 model; nothing is loaded)."""
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2"}))
    return folder


# --- an adapter checkpoint, as swiftk sft writes it --------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A LoRA checkpoint of one ``swiftk sft`` step on the demo model (adapter, args.json, README.md, optimizer,
    scheduler and RNG states, trainer state), plus what a run may leave inside it that is not the model."""
    pytest.importorskip("swiftk_demo", reason="swift-plugin-demo (the tiny demo model) is not installed")
    from swiftk.cli.builtin import invoke

    out = tmp_path_factory.mktemp("hub_upload") / "run"
    # fmt: off
    code, _ = invoke("sft", [
        "--model", "swiftk/tiny-chat", "--dataset", "swiftk/demo-sft#4", "--split_dataset_ratio", "0",
        "--train_type", "lora", "--max_steps", "1", "--per_device_train_batch_size", "2", "--max_length", "128",
        "--save_steps", "1", "--report_to", "none", "--add_version", "false", "--gradient_checkpointing", "false",
        "--dataloader_num_workers", "0", "--disable_tqdm", "true", "--output_dir", str(out),
    ], launch=False)
    # fmt: on
    assert code == 0
    ckpt = out / "checkpoint-1"
    for name in RUN_INTERNAL:
        (ckpt / name).parent.mkdir(parents=True, exist_ok=True)
        (ckpt / name).write_bytes(b"not part of the model")
    return ckpt


@pytest.fixture
def adapter(checkpoint, tmp_path) -> Path:
    """This test's own copy of the checkpoint (an upload may leave a hub client's record in it)."""
    copy = tmp_path / "checkpoint-1"
    shutil.copytree(checkpoint, copy)
    return copy


# --- the Hugging Face Hub, through huggingface_hub's client factory ------------------------------------------


class FakeHfHub:
    """Answers huggingface_hub 2.4's upload requests as the Hub does, recording each one.

    Every file is answered ``uploadMode: regular`` (its content rides in the commit): an ``lfs`` answer would
    send the file through hf_xet, whose Rust client does not use huggingface_hub's HTTP client."""

    def __init__(self, reject: Optional[str] = None):
        self.requests: list[dict] = []
        self.repos: dict[str, dict] = {}
        self.commits: list[dict] = []
        self.reject = reject  # a token answered 401

    def handle(self, request: Any) -> Any:
        import httpx2

        body = request.read()
        path = request.url.path
        self.requests.append({"method": request.method, "path": path, "headers": dict(request.headers), "body": body})
        if self.reject and request.headers.get("authorization") == f"Bearer {self.reject}":
            return httpx2.Response(401, json={"error": "Invalid credentials in Authorization header"})
        if request.method == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            repo_id = f"{payload['organization']}/{payload['name']}"
            url = f"https://huggingface.co/{repo_id}"
            if repo_id in self.repos:
                return httpx2.Response(409, json={"error": "You already created this model repo", "url": url})
            self.repos[repo_id] = payload
            return httpx2.Response(200, json={"url": url, "name": repo_id, "id": "6570" + "0" * 20})
        if request.method == "POST" and path == "/api/validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if request.method == "POST" and "/preupload/" in path:
            files = json.loads(body)["files"]
            answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files]
            return httpx2.Response(200, json={"files": answer})
        if request.method == "POST" and "/commit/" in path:
            lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            files = {
                item["value"]["path"]: base64.b64decode(item["value"]["content"])
                for item in lines
                if item["key"] == "file"
            }
            others = [item["key"] for item in lines if item["key"] not in ("header", "file")]
            repo_id = path.removeprefix("/api/models/").split("/commit/")[0]
            self.commits.append(
                {
                    "repo": repo_id,
                    "revision": path.rsplit("/", 1)[-1],
                    "header": header,
                    "files": files,
                    "other": others,
                }
            )
            oid = hashlib.sha1(body).hexdigest()
            return httpx2.Response(
                200, json={"commitUrl": f"https://huggingface.co/{repo_id}/commit/{oid}", "commitOid": oid}
            )
        return httpx2.Response(404, json={"error": f"unexpected {request.method} {path}"})

    def paths(self) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.requests]


@pytest.fixture
def hf_hub(monkeypatch):
    """The Hub, answered in this process; online for this test only (the transport never leaves it)."""
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SWIFTK_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    hub = FakeHfHub()
    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub.handle)))
    try:
        yield hub
    finally:
        huggingface_hub.set_client_factory(default_client_factory)


def _assert_token_only_in_auth(hub_requests: list[dict], token: str) -> None:
    for r in hub_requests:
        assert r["headers"].get("authorization") == f"Bearer {token}", (r["method"], r["path"])
        rest = {k: v for k, v in r["headers"].items() if k not in ("authorization", "cookie")}
        assert token not in json.dumps(rest) and token.encode() not in r["body"], (r["method"], r["path"])


@pytest.mark.slow
def test_hf_push_of_an_adapter_checkpoint_as_is(adapter, tmp_path, hf_hub, capsys):
    """Nothing else to do: the checkpoint itself, every file of it (optimizer states too, as ms-swift), none
    of the run's own files, in one commit with --commit_message, to a private repo."""
    (adapter / ".ms_upload_cache").write_text("{}")  # an earlier push to ModelScope leaves it
    code, out, err = _cli(
        capsys,
        "export",
        "--adapters",
        str(adapter),
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/tiny-lora",
        "--hub_private_repo",
        "true",
        "--commit_message",
        "LoRA step 1",
        "--use_hf",
        "true",
        "--hub_token",
        HF_TOKEN,
    )
    assert code == 0, err[-3000:]
    assert f"{adapter} pushed to https://huggingface.co/me/tiny-lora" in out
    assert hf_hub.repos == {
        "me/tiny-lora": {"name": "tiny-lora", "organization": "me", "visibility": "private", "type": "model"}
    }
    assert hf_hub.paths() == [
        "POST /api/repos/create",
        "POST /api/validate-yaml",  # the README.md peft wrote
        "POST /api/models/me/tiny-lora/preupload/main",
        "POST /api/models/me/tiny-lora/commit/main",
    ]
    [commit] = hf_hub.commits
    assert commit["header"]["summary"] == "LoRA step 1" and commit["other"] == []
    expected = _uploadable(adapter)
    assert commit["files"] == expected
    assert {"adapter_model.safetensors", "adapter_config.json", "args.json", "optimizer.pt"} <= set(expected)
    assert not set(commit["files"]) & (RUN_INTERNAL | {".ms_upload_cache"})
    preupload = json.loads(hf_hub.requests[2]["body"])
    assert sorted(f["path"] for f in preupload["files"]) == sorted(expected)
    _assert_token_only_in_auth(hf_hub.requests, HF_TOKEN)
    _assert_token_nowhere(HF_TOKEN, out, err, folders=(tmp_path,))


@pytest.mark.slow
def test_hf_push_of_the_merged_folder_then_of_a_model_folder_with_the_stored_login(
    adapter, tmp_path, hf_hub, capsys, monkeypatch
):
    """--merge_lora: the folder written is uploaded (its export args.json with the token masked); then the same
    folder as --model, to the now existing repo, with the token of HF_TOKEN (no --hub_token)."""
    code, out, err = _cli(
        capsys,
        "export",
        "--adapters",
        str(adapter),
        "--merge_lora",
        "true",
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/tiny-merged",
        "--use_hf",
        "true",
        "--hub_token",
        HF_TOKEN,
    )
    assert code == 0, err[-3000:]
    merged = Path(f"{adapter}-merged")
    assert f"{merged} pushed to https://huggingface.co/me/tiny-merged" in out
    assert hf_hub.repos["me/tiny-merged"]["visibility"] == "public"
    [commit] = hf_hub.commits
    assert commit["header"]["summary"] == "update files"  # the default --commit_message
    assert commit["files"] == _uploadable(merged)
    assert {"config.json", "model.safetensors", "tokenizer.json", "args.json"} <= set(commit["files"])
    assert ".swiftk-run.lock" not in commit["files"]
    assert json.loads(commit["files"]["args.json"])["hub_token"] == "***"
    _assert_token_only_in_auth(hf_hub.requests, HF_TOKEN)

    stored = "hf_StoredLoginToken789"
    monkeypatch.setenv("HF_TOKEN", stored)
    before = len(hf_hub.requests)
    code, out2, err2 = _cli(
        capsys,
        "export",
        "--model",
        str(merged),
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/tiny-merged",
        "--use_hf",
        "true",
    )
    assert code == 0, err2[-3000:]
    again = hf_hub.requests[before:]
    assert [f"{r['method']} {r['path']}" for r in again][:1] == ["POST /api/repos/create"]  # answered 409: exists
    assert len(hf_hub.commits) == 2 and hf_hub.commits[1]["files"] == _uploadable(merged)
    _assert_token_only_in_auth(again, stored)
    _assert_token_nowhere(HF_TOKEN, out, err, out2, err2, folders=(tmp_path,))
    _assert_token_nowhere(stored, out2, err2, folders=(tmp_path,))


def test_hf_rejected_token_is_one_line_without_the_token(tmp_path, hf_hub, capsys):
    folder = _model_folder(tmp_path)
    hf_hub.reject = HF_TOKEN
    code, out, err = _cli(
        capsys,
        "export",
        "--model",
        str(folder),
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/x",
        "--use_hf",
        "true",
        "--hub_token",
        HF_TOKEN,
    )
    line = _one_error_line(err)
    assert code == 2
    assert "the Hugging Face Hub refused creating the repository me/x (HTTP 401" in line
    assert "--hub_token (or the stored login) may write to me" in line
    assert hf_hub.commits == []
    _assert_token_nowhere(HF_TOKEN, out, err, folders=(tmp_path,))


def test_hf_unreachable_is_one_line(tmp_path, hf_hub, capsys):
    """Online, but no connection: the transport's error becomes the same one line as offline."""
    import httpx2
    import huggingface_hub

    def refuse(request):
        raise httpx2.ConnectError("[Errno 111] Connection refused", request=request)

    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(refuse)))
    folder = _model_folder(tmp_path)
    code, out, err = _cli(
        capsys,
        "export",
        "--model",
        str(folder),
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/x",
        "--use_hf",
        "true",
        "--hub_token",
        HF_TOKEN,
    )
    assert code == 2
    assert _one_error_line(err) == (
        "swiftk: error: --push_to_hub: the Hugging Face Hub cannot be reached (offline: HF_HUB_OFFLINE=1 or no "
        f"network) (ConnectError); upload {folder} where a network exists"
    )
    _assert_token_nowhere(HF_TOKEN, out, err)


@pytest.mark.parametrize("use_hf,hub", [("true", "the Hugging Face Hub"), ("false", "ModelScope")])
def test_offline_is_one_line_and_sends_nothing(tmp_path, capsys, monkeypatch, use_hf, hub):
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sent: list = []
    huggingface_hub.set_client_factory(
        lambda: httpx2.Client(transport=httpx2.MockTransport(lambda r: sent.append(r) or httpx2.Response(500)))
    )
    folder = _model_folder(tmp_path)
    try:
        code, out, err = _cli(
            capsys,
            "export",
            "--model",
            str(folder),
            "--push_to_hub",
            "true",
            "--hub_model_id",
            "me/x",
            "--use_hf",
            use_hf,
            "--hub_token",
            HF_TOKEN,
        )
    finally:
        huggingface_hub.set_client_factory(default_client_factory)
    assert code == 2 and sent == []
    assert _one_error_line(err) == (
        f"swiftk: error: --push_to_hub: {hub} cannot be reached (offline: HF_HUB_OFFLINE=1 or no network); "
        f"upload {folder} where a network exists"
    )
    _assert_token_nowhere(HF_TOKEN, out, err)


def test_push_without_hub_model_id_is_one_line(tmp_path, capsys):
    folder = _model_folder(tmp_path)
    code, _, err = _cli(capsys, "export", "--model", str(folder), "--push_to_hub", "true", "--use_hf", "true")
    assert code == 2
    assert "--push_to_hub needs --hub_model_id" in _one_error_line(err)


# --- ModelScope, through the modelscope SDK against a local server ----------------------------------------


class FakeModelScope(http.server.ThreadingHTTPServer):
    """ModelScope's legacy ``/api/v1`` upload API on 127.0.0.1, recording each request."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _ModelScopeHandler)
        self.requests: list[dict] = []
        self.repos: dict[str, dict] = {}
        self.blobs: dict[str, bytes] = {}
        self.commits: list[dict] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self) -> list[str]:
        return [f"{r['method']} {r['path']}" for r in self.requests]


class _ModelScopeHandler(http.server.BaseHTTPRequestHandler):
    server: FakeModelScope

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _ok(self, data: Any) -> None:
        self._answer(200, {"Code": 200, "Data": data, "Message": "success", "Success": True, "RequestId": "r1"})

    def _handle(self) -> None:
        body = self._body()
        path = self.path.split("?")[0]
        srv = self.server
        with srv.lock:
            srv.requests.append({"method": self.command, "path": path, "headers": dict(self.headers), "body": body})
        if self.command == "POST" and path == "/api/v1/models":
            payload = json.loads(body)
            repo_id = f"{payload['Path']}/{payload['Name']}"
            if repo_id in srv.repos:
                return self._answer(409, {"Code": 409, "Message": "model already exists", "Success": False})
            srv.repos[repo_id] = payload
            return self._ok({"Path": payload["Path"], "Name": payload["Name"], "Visibility": payload["Visibility"]})
        if self.command == "POST" and path.endswith("/info/lfs/objects/batch"):
            objects = json.loads(body)["objects"]
            answer = [
                {"oid": o["oid"], "size": o["size"], "actions": {"upload": {"href": f"{srv.endpoint}/lfs/{o['oid']}"}}}
                for o in objects
                if o["oid"] not in srv.blobs
            ]
            return self._ok({"objects": answer})
        if self.command == "PUT" and path.startswith("/lfs/"):
            oid = path.rsplit("/", 1)[-1]
            assert hashlib.sha256(body).hexdigest() == oid
            srv.blobs[oid] = body
            return self._answer(200, {"Code": 200, "Message": "success"})
        if self.command == "POST" and "/commit/" in path:
            payload = json.loads(body)
            repo_id = path.removeprefix("/api/v1/repos/models/").split("/commit/")[0]
            files = {}
            for action in payload["actions"]:
                if action["type"] == "lfs":
                    files[action["path"]] = srv.blobs[action["sha256"]]
                else:
                    files[action["path"]] = base64.b64decode(action["content"])
            srv.commits.append(
                {
                    "repo": repo_id,
                    "revision": path.rsplit("/", 1)[-1],
                    "message": payload["commit_message"],
                    "files": files,
                    "actions": payload["actions"],
                }
            )
            return self._ok({"CommitId": hashlib.sha1(body).hexdigest()})
        return self._answer(404, {"Code": 404, "Message": f"unexpected {self.command} {path}", "Success": False})

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture
def modelscope(monkeypatch, tmp_path):
    """ModelScope on 127.0.0.1: the SDK reads MODELSCOPE_ENDPOINT when its default config is built."""
    pytest.importorskip("modelscope", reason="the modelscope SDK is not installed")
    config = pytest.importorskip("modelscope_hub.config", reason="modelscope < 1.36 (no modelscope_hub)")

    server = FakeModelScope()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SWIFTK_OFFLINE", "MODELSCOPE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELSCOPE_ENDPOINT", server.endpoint)
    monkeypatch.setenv("MODELSCOPE_HOME", str(tmp_path / "modelscope_home"))
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "modelscope_cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(config, "_default_config", None)  # built afresh from this environment
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
def test_modelscope_push_of_an_adapter_checkpoint(adapter, tmp_path, modelscope, capsys):
    """The default hub: repo created private, the checkpoint in one commit on master (LFS blobs PUT first),
    then ms-swift's configuration.json; the token only in the auth headers (the SDK sends it as a bearer
    token and as the ``m_session_id`` cookie)."""
    code, out, err = _cli(
        capsys,
        "export",
        "--adapters",
        str(adapter),
        "--push_to_hub",
        "true",
        "--hub_model_id",
        "me/tiny-lora",
        "--hub_private_repo",
        "true",
        "--commit_message",
        "LoRA step 1",
        "--hub_token",
        MS_TOKEN,
    )
    assert code == 0, err[-3000:]
    assert f"{adapter} pushed to {modelscope.endpoint}/models/me/tiny-lora" in out
    # ours creates it private (1); the SDK's upload_folder and upload_file each ask again (public, 5) and are
    # answered "already exists", as the real server answers them
    created = modelscope.repos["me/tiny-lora"]
    assert created == {"Path": "me", "Name": "tiny-lora", "Visibility": 1, "License": "Apache-2.0"}
    blobs = [p for p in modelscope.paths() if p.startswith("PUT /lfs/")]
    assert [p for p in modelscope.paths() if p not in blobs] == [
        "POST /api/v1/models",
        "POST /api/v1/models",
        "POST /api/v1/repos/models/me/tiny-lora/info/lfs/objects/batch",
        "POST /api/v1/repos/models/me/tiny-lora/commit/master",
        "POST /api/v1/models",
        "POST /api/v1/repos/models/me/tiny-lora/commit/master",
    ]
    assert len(blobs) == len(modelscope.blobs) >= 2
    first, config = modelscope.commits
    assert first["revision"] == "master" and first["message"] == "LoRA step 1 (batch 1/1)"  # the SDK's suffix
    assert first["files"] == _uploadable(adapter)
    assert not set(first["files"]) & RUN_INTERNAL and ".ms_upload_cache" not in first["files"]
    assert {a["path"] for a in first["actions"] if a["type"] == "lfs"} >= {"adapter_model.safetensors", "optimizer.pt"}
    assert config["files"] == {
        "configuration.json": b'{"framework": "pytorch", "task": "text-generation", "allow_remote": true}'
    }
    assert not (adapter / "configuration.json").exists()  # uploaded from memory
    for r in modelscope.requests:
        assert r["headers"].get("Authorization") == f"Bearer {MS_TOKEN}", (r["method"], r["path"])
        rest = {k: v for k, v in r["headers"].items() if k not in ("Authorization", "Cookie")}
        assert MS_TOKEN not in json.dumps(rest) and MS_TOKEN.encode() not in r["body"], (r["method"], r["path"])
    _assert_token_nowhere(MS_TOKEN, out, err, folders=(tmp_path,))


def test_modelscope_without_a_token_is_one_line(tmp_path, modelscope, capsys):
    folder = _model_folder(tmp_path)
    code, _, err = _cli(capsys, "export", "--model", str(folder), "--push_to_hub", "true", "--hub_model_id", "me/x")
    assert code == 2 and modelscope.requests == []
    assert "ModelScope needs an access token: pass --hub_token" in _one_error_line(err)
