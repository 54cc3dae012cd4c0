"""Hub datasets: ModelScope (ms-swift's default) or Hugging Face (``--use_hf true``), when a network exists.

Offline (``HF_HUB_OFFLINE`` / ``HF_DATASETS_OFFLINE``) a hub id fails at once with what to do
instead, rather than after a long network timeout.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Optional

from swiftk.api import UsageError

_TRUE = ("1", "true", "yes", "on")


def offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "SWIFTK_OFFLINE")
    )


def offline_error(name: str, flag: str, looked_at: Optional[str] = None) -> UsageError:
    where = f" (no file or folder at {looked_at})" if looked_at else ""
    return UsageError(
        f"{flag} {name}: not a local file or folder{where} and not a registered dataset, and the hub is "
        f"unreachable offline (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set); download it elsewhere (e.g. git clone "
        f"https://huggingface.co/datasets/{name}) and pass the folder, or register it with --custom_dataset_info"
    )


def use_modelscope(hub: Optional[str], use_hf: bool) -> bool:
    """ms-swift reads ids from ModelScope unless --use_hf; without the modelscope package, HF it is."""
    wanted = hub == "ms" or (hub is None and not use_hf)
    return wanted and importlib.util.find_spec("modelscope") is not None


def load_hub(
    dataset_id: str,
    subset: Optional[str],
    split: str,
    *,
    flag: str,
    streaming: bool,
    download_mode: str,
    revision: Optional[str] = None,
    modelscope: bool = False,
    token: Optional[str] = None,
) -> Any:
    """One split of one subset of a hub dataset, as a ``datasets`` (Iterable)Dataset."""
    if offline():
        raise offline_error(dataset_id, flag)
    name = None if subset in (None, "default") else subset
    try:
        if modelscope:
            from modelscope import MsDataset

            ds = MsDataset.load(
                dataset_id,
                subset_name=name or "default",
                split=split,
                version=revision,
                download_mode=download_mode,
                use_streaming=streaming,
                token=token,
            )
            if hasattr(ds, "to_hf_dataset"):
                ds = ds.to_hf_dataset()
            return getattr(ds, "_hf_ds", ds)
        import datasets

        return datasets.load_dataset(
            dataset_id,
            name,
            split=split,
            streaming=streaming,
            revision=revision,
            download_mode=download_mode,
            token=token,
        )
    except UsageError:
        raise
    except Exception as exc:  # network, auth, missing split: say which dataset and hub
        hub = "ModelScope" if modelscope else "the Hugging Face hub"
        raise UsageError(
            f"{flag} {dataset_id}: loading subset '{subset or 'default'}' split '{split}' from {hub} "
            f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from exc
