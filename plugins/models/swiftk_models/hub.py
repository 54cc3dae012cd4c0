"""The hubs, both ways: ModelScope (the default, as ms-swift) or, with ``--use_hf true``, the Hugging Face Hub.

- :func:`download_model`: ``--model ORG/NAME`` that is no local folder, a snapshot downloaded;
  ``--model_revision`` and ``--hub_token`` apply.  The kernel asks for it through the ``download_model`` hook.
- :func:`upload_model`: ``swiftk export --push_to_hub true --hub_model_id ORG/NAME`` uploads a folder (the
  merged or quantized output, or the ``--adapters`` checkpoint / ``--model`` folder as is) to that
  repository, created when missing (``--hub_private_repo``), in one commit (``--commit_message``), with
  ``--hub_token`` or the stored login.  The kernel asks for it through the ``upload_model`` hook.

Offline (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``/``SWIFTK_OFFLINE``), or when the hub cannot be reached,
the error is one line saying what to do instead.  A token is never printed, logged or written: errors name
the flag, never its value.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from swiftk.api import UsageError


def offline() -> bool:
    return any(
        os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "SWIFTK_OFFLINE")
    )


def download_model(model_id: str, args: Any) -> str:
    """The local snapshot folder of ``model_id``."""
    use_hf = bool(args.get("use_hf"))
    hub = "the Hugging Face Hub" if use_hf else "ModelScope"
    offline_msg = (
        f"--model {model_id}: not a local folder, and {hub} cannot be reached (offline: HF_HUB_OFFLINE=1 "
        f"or no network); download the model where a network exists and pass its folder, e.g. "
        f"--model /path/to/{model_id.rsplit('/', 1)[-1]}"
    )
    if offline():
        raise UsageError(offline_msg)
    revision = args.get("model_revision")
    token = args.get("hub_token")
    if use_hf:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

        try:
            return snapshot_download(model_id, revision=revision, token=token)
        except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
            raise UsageError(
                f"--model {model_id}: not found on the Hugging Face Hub "
                f"({type(exc).__name__}); check the id and --model_revision"
            ) from None
        except Exception as exc:  # network errors come in many types
            raise UsageError(f"{offline_msg} ({type(exc).__name__})") from None
    try:
        from modelscope import snapshot_download as ms_download
    except ImportError:
        raise UsageError(
            f"--model {model_id}: downloading from ModelScope needs `pip install modelscope`; or pass "
            f"--use_hf true for the Hugging Face Hub, or a local folder"
        ) from None
    try:
        return ms_download(model_id, revision=revision, **modelscope_token(ms_download, token))
    except Exception as exc:
        raise UsageError(
            f"{offline_msg} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None


def modelscope_token(download: Any, token: Optional[str]) -> dict:
    """``--hub_token`` for ModelScope: its ``snapshot_download(token=...)``, or a login where that is older."""
    if not token:
        return {}
    import inspect

    if "token" in inspect.signature(download).parameters:
        return {"token": token}
    from modelscope.hub.api import HubApi

    HubApi().login(token)
    return {}


# --- upload ------------------------------------------------------------------------------------------

#: Files a folder may hold that are not part of the model: never uploaded.  fnmatch patterns on the path
#: relative to the folder (``*`` crosses ``/``), as both hub clients match them.  ``.swiftk-run.lock`` is
#: ``swiftk.io.RUN_LOCK`` (held in an export's output folder while it runs; not in swiftk.api, hence
#: spelled out); ``.staging``/``.old`` folders are what an atomic write leaves when killed, ``.trash-*`` a
#: checkpoint being deleted; ``.ms_upload_cache`` is the modelscope SDK's resumable-upload record (it skips
#: it itself; huggingface_hub would not).  Optimizer, scheduler and RNG states of a checkpoint are uploaded,
#: as ms-swift's ``export --push_to_hub`` does (it passes no ignore patterns); both hub clients skip ``.git``.
UPLOAD_IGNORE: tuple[str, ...] = (
    ".swiftk-run.lock",
    "*/.swiftk-run.lock",
    "*.staging",
    "*.staging/*",
    "*.old/*",
    ".trash-*",
    "*/.trash-*",
    "__pycache__/*",
    "*/__pycache__/*",
    "*.pyc",
    ".ms_upload_cache",
    ".ms_upload_progress",
)

#: What ms-swift writes into a folder lacking one before pushing it to ModelScope (MSHub.push_to_hub).
MODELSCOPE_CONFIGURATION = b'{"framework": "pytorch", "task": "text-generation", "allow_remote": true}'


def upload_model(folder: str, args: Any) -> str:
    """Upload ``folder`` to ``--hub_model_id`` and return the repository's URL."""
    repo_id = args.get("hub_model_id")
    use_hf = bool(args.get("use_hf"))
    hub = "the Hugging Face Hub" if use_hf else "ModelScope"
    if not repo_id:
        raise UsageError("--push_to_hub needs --hub_model_id: the hub repository to upload to, e.g. me/my-model")
    if not os.path.isdir(folder):
        raise UsageError(f"--push_to_hub: no such folder to upload: {folder}")
    if offline():
        raise UsageError(_unreachable(hub, folder))
    token = args.get("hub_token") or None
    private = bool(args.get("hub_private_repo"))
    message = args.get("commit_message") or "update files"
    upload = _upload_hf if use_hf else _upload_modelscope
    try:
        return upload(folder, repo_id, token, private, message)
    except UsageError as exc:  # whatever a library put into its message, the token is not repeated
        raise UsageError(str(exc).replace(token, "***") if token else str(exc)) from None


def _unreachable(hub: str, folder: str, exc: Optional[BaseException] = None) -> str:
    reason = f" ({type(exc).__name__})" if exc is not None else ""
    return (
        f"--push_to_hub: {hub} cannot be reached (offline: HF_HUB_OFFLINE=1 or no network){reason}; "
        f"upload {folder} where a network exists"
    )


def _first_line(text: Any) -> str:
    lines = [line.strip() for line in str(text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def _refused(hub: str, step: str, repo_id: str, status: Any, detail: str) -> UsageError:
    """The hub answered with an error: its status and first line, and for 401/403 what to check."""
    hint = ""
    if status in (401, 403):
        hint = f"; check that --hub_token (or the stored login) may write to {repo_id.split('/')[0]}"
    said = "; ".join(x for x in (f"HTTP {status}" if status else "", detail) if x)
    return UsageError(f"--push_to_hub: {hub} refused {step} {repo_id} ({said}){hint}")


def _upload_hf(folder: str, repo_id: str, token: Optional[str], private: bool, message: str) -> str:
    """``HfApi.create_repo(exist_ok=True)`` then ``HfApi.upload_folder``, as ms-swift's HFHub.push_to_hub;
    without --hub_token, huggingface_hub's own lookup (``HF_TOKEN``, then the stored login)."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    hub = "the Hugging Face Hub"
    if token is None and get_token() is None:
        raise UsageError(
            f"--push_to_hub: {hub} needs a token with write access: pass --hub_token, set HF_TOKEN or run "
            f"`hf auth login`"
        )
    api = HfApi()
    step = "creating the repository"
    try:
        url = api.create_repo(repo_id, token=token, private=private, exist_ok=True, repo_type="model")
        repo_id = getattr(url, "repo_id", None) or repo_id  # a bare NAME lands in the token's namespace
        step = "the upload to"
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            commit_message=message,
            token=token,
            repo_type="model",
            ignore_patterns=list(UPLOAD_IGNORE),
        )
    except HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        raise _refused(hub, step, repo_id, status, _first_line(exc.server_message or exc)) from None
    except (*_transport_errors(), ConnectionError, TimeoutError) as exc:  # OfflineModeIsEnabled too
        raise UsageError(_unreachable(hub, folder, exc)) from None
    except (ValueError, OSError) as exc:  # an invalid repo id, README metadata the Hub rejects, a file unread
        raise UsageError(f"--push_to_hub {repo_id}: {_first_line(exc) or type(exc).__name__}") from None
    return str(url)


def _transport_errors() -> tuple:
    """No connection, as the HTTP client of this huggingface_hub raises it (httpx2 in 2.x, httpx in 1.x,
    requests before)."""
    import importlib

    found = []
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"), ("requests", "ConnectionError")):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def _upload_modelscope(folder: str, repo_id: str, token: Optional[str], private: bool, message: str) -> str:
    """The modelscope SDK's ``HubApi.create_repo(exist_ok=True)`` then ``HubApi.upload_folder`` (what its
    ``push_to_hub``, called by ms-swift's MSHub.push_to_hub, comes down to), on branch ``master``, without
    ``login`` (which would store the token under ``~/.modelscope``).  Without --hub_token:
    ``MODELSCOPE_API_TOKEN``, else the stored login.  As ms-swift, the repository gets a
    ``configuration.json`` when the folder has none, uploaded from memory (ms-swift writes it into the
    folder).  The SDK itself leaves its resumable-upload record ``.ms_upload_cache`` in the folder."""
    hub = "ModelScope"
    try:
        from modelscope.hub.api import HubApi, ModelScopeConfig
        from modelscope.hub.constants import ModelVisibility
    except ImportError:
        raise UsageError(
            "--push_to_hub: uploading to ModelScope needs `pip install modelscope`; or pass --use_hf true "
            "for the Hugging Face Hub"
        ) from None
    api = HubApi(token=token)
    if not _modelscope_token(api, token):
        raise UsageError(
            f"--push_to_hub: {hub} needs an access token: pass --hub_token, set MODELSCOPE_API_TOKEN or run "
            f"`modelscope login`"
        )
    if "/" not in repo_id:  # as ms-swift: NAME goes to the logged-in user's namespace
        user = ModelScopeConfig.get_user_info()[0]
        if not user:
            raise UsageError(f"--hub_model_id {repo_id}: ModelScope needs OWNER/NAME, e.g. me/{repo_id}")
        repo_id = f"{user}/{repo_id}"
    visibility = ModelVisibility.PRIVATE if private else ModelVisibility.PUBLIC
    step = "creating the repository"
    try:
        api.create_repo(repo_id, token=token, visibility=visibility, repo_type="model", exist_ok=True)
        step = "the upload to"
        api.upload_folder(
            repo_id,
            folder,
            token=token,
            commit_message=message,
            revision="master",
            ignore_patterns=list(UPLOAD_IGNORE),
        )
        if not any(os.path.isfile(os.path.join(folder, n)) for n in ("configuration.json", "configuration.yaml")):
            api.upload_file(
                repo_id=repo_id,
                path_or_fileobj=MODELSCOPE_CONFIGURATION,
                path_in_repo="configuration.json",
                token=token,
                commit_message=message,
                revision="master",
            )
    except Exception as exc:
        error = _modelscope_error(exc, hub, step, repo_id, folder)
        if error is None:
            raise
        raise error from None
    return f"{api.endpoint.rstrip('/')}/models/{repo_id}"


def _modelscope_token(api: Any, token: Optional[str]) -> Optional[str]:
    """The token the SDK will send: --hub_token, ``MODELSCOPE_API_TOKEN`` or the stored login."""
    config = getattr(getattr(api, "_api", None), "_config", None)  # modelscope >= 1.36 (modelscope_hub)
    if config is not None:
        return config.token
    return token or os.environ.get("MODELSCOPE_API_TOKEN")


def _modelscope_error(exc: Exception, hub: str, step: str, repo_id: str, folder: str) -> Optional[UsageError]:
    """One line for what the SDK raised (None: not a hub error, let it through)."""
    import requests

    try:
        from modelscope_hub.errors import APIError, NetworkError

        api_errors: tuple = (APIError, requests.HTTPError)
        network_errors: tuple = (NetworkError, requests.ConnectionError, requests.Timeout)
    except ImportError:  # an older modelscope: requests' errors
        api_errors, network_errors = (requests.HTTPError,), (requests.ConnectionError, requests.Timeout)
    if isinstance(exc, network_errors):
        return UsageError(_unreachable(hub, folder, exc))
    if isinstance(exc, api_errors):
        status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
        return _refused(hub, step, repo_id, status, _first_line(exc))
    if isinstance(exc, (ValueError, OSError)):
        return UsageError(f"--push_to_hub {repo_id}: {_first_line(exc) or type(exc).__name__}")
    return None
