"""``--model ORG/NAME`` that is no local folder: a snapshot downloaded from ModelScope (the default, as
ms-swift) or, with ``--use_hf true``, the Hugging Face Hub; ``--model_revision`` and ``--hub_token``
apply.  Offline (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``/``SWIFTK_OFFLINE``), or when the hub cannot
be reached, the error says to pass a downloaded folder instead.  The kernel asks for it through the
``download_model`` hook.
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
