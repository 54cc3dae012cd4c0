"""From a ``--dataset`` value to raw rows: which files, folder or hub dataset, and which subsets.

Lookup order (ms-swift's): a registered name or id, then an existing local path, then a hub id.
A local folder is a ``save_to_disk`` folder, a folder of .jsonl/.json/.csv files (read by our
readers, with line numbers), or a Hugging Face dataset repository cloned to disk (read by
``datasets``, which knows its configs and split names).
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from swiftk.api import DatasetMeta, SubsetDataset, UsageError
from swiftk_datasets.catalog import Catalog, Found
from swiftk_datasets.hub import offline, offline_error, use_modelscope
from swiftk_datasets.readers import FILE_SUFFIXES, _TEXT_SUFFIXES
from swiftk_datasets.spec import DatasetSpec

_SPLIT_NAME = re.compile(r"(?:^|[/_.\-])(test|testing|eval|evaluation|validation|valid|val|dev)(?:[/_.\-]|$)")


@dataclass
class Source:
    """One subset of one dataset, ready to read."""

    display: str  # how messages name it
    kind: str  # "files", "disk", "folder" or "hub"
    location: str  # a folder path or a hub id ("files": the first file)
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, display) for kind "files"
    subset: Optional[str] = None
    splits: tuple[str, ...] = ("train",)
    preprocess: Any = None  # a row function, a "module:attr" reference, or None
    columns: dict = field(default_factory=dict)
    messages_style: Optional[dict] = None
    remove_useless_columns: bool = True
    revision: Optional[str] = None
    modelscope: bool = False


def _looks_like_path(name: str) -> bool:
    """``owner/name`` is a hub id; ``./x``, ``/x``, ``a/b/c`` and ``x.jsonl`` are paths."""
    if name.startswith((".", "/", "~")) or "\\" in name:
        return True
    if os.path.splitext(name)[1].lower() in FILE_SUFFIXES + (".txt",):
        return True
    return name.count("/") > 1


def resolve(spec: DatasetSpec, catalog: Catalog, *, flag: str, use_hf: bool) -> list[Source]:
    """The sources one ``--dataset`` value stands for (one per selected subset)."""
    found = catalog.find(spec.dataset)
    if found is None:
        path = os.path.expanduser(spec.dataset)
        if os.path.exists(path):
            found = catalog.find_path(path) or Found(spec.dataset, DatasetMeta(dataset_path=os.path.abspath(path)))
        elif _looks_like_path(spec.dataset):
            raise UsageError(f"{flag} {spec.dataset}: no such file or folder (looked at {os.path.abspath(path)})")
        elif "/" not in spec.dataset:
            close = difflib.get_close_matches(spec.dataset, catalog.names(), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UsageError(
                f"{flag} {spec.dataset}: not a registered dataset and no such file or folder "
                f"(looked at {os.path.abspath(path)}){hint}"
            )
        else:
            if offline():
                raise offline_error(spec.dataset, flag, os.path.abspath(path))
            found = Found(spec.dataset, DatasetMeta(ms_dataset_id=spec.dataset, hf_dataset_id=spec.dataset))
    meta = found.meta
    subsets = select_subsets(meta, spec, flag, found.name)
    display = spec.dataset
    if meta.dataset_path:
        if not os.path.exists(meta.dataset_path):
            who = f" (registered by {found.plugin})" if found.plugin else ""
            raise UsageError(f"{flag} {spec.dataset}: its dataset_path {meta.dataset_path} does not exist{who}")
        return [_local_source(meta, sub, display, flag, len(subsets) > 1) for sub in subsets]
    modelscope = use_modelscope(spec.hub, use_hf)
    hub_id = meta.ms_dataset_id if modelscope else (meta.hf_dataset_id or meta.ms_dataset_id)
    if not hub_id:
        raise UsageError(
            f"{flag} {spec.dataset}: registered without a "
            f"{'ModelScope' if modelscope else 'Hugging Face'} id or a dataset_path"
        )
    revision = meta.ms_revision if modelscope else meta.hf_revision
    return [
        _source(
            meta,
            sub,
            display + (f":{sub.name}" if len(subsets) > 1 else ""),
            "hub",
            hub_id,
            revision=revision,
            modelscope=modelscope,
        )
        for sub in subsets
    ]


def _subsets_of(meta: DatasetMeta) -> list[SubsetDataset]:
    out = []
    for s in meta.subsets or ["default"]:
        if isinstance(s, str):
            s = SubsetDataset(name=s, subset=s)
        elif s.name is None:
            s = SubsetDataset(
                name=s.subset,
                subset=s.subset,
                split=s.split,
                preprocess_func=s.preprocess_func,
                is_weak_subset=s.is_weak_subset,
            )
        out.append(s)
    return out


def select_subsets(meta: DatasetMeta, spec: DatasetSpec, flag: str, name: str) -> list[SubsetDataset]:
    """ms-swift's rule: no subset given means the only one, else 'default'; 'all' means every
    non-weak subset; names of an unregistered dataset go to the hub or folder as they are."""
    registered = _subsets_of(meta)
    by_name = {s.name: s for s in registered}
    implicit = [s.name for s in registered] == ["default"]
    if not spec.subsets:
        if len(registered) == 1:
            return registered
        if "default" in by_name:
            return [by_name["default"]]
        raise UsageError(
            f"{flag} {spec.raw}: {name} has subsets {', '.join(by_name)}; choose with "
            f"{name}:<subset> (several: a/b) or {name}:all"
        )
    if spec.all_subsets and "all" not in by_name:
        return [s for s in registered if not s.is_weak_subset] or registered
    out = []
    for wanted in spec.subsets:
        if wanted in by_name:
            out.append(by_name[wanted])
        elif implicit:
            out.append(SubsetDataset(name=wanted, subset=wanted))
        else:
            raise UsageError(f"{flag} {spec.raw}: {name} has no subset '{wanted}'; valid: {', '.join(by_name)}, all")
    return out


def _source(meta: DatasetMeta, sub: SubsetDataset, display: str, kind: str, location: str, **kw: Any) -> Source:
    extra = dict(meta.extra or {})
    sub_extra = getattr(sub, "extra", None) or {}
    columns = {**(extra.get("columns") or {}), **(sub_extra.get("columns") or {})}
    style = sub_extra.get("messages") or extra.get("messages")
    return Source(
        display=display,
        kind=kind,
        location=location,
        subset=sub.subset,
        splits=tuple(sub.split or meta.split or ["train"]),
        preprocess=sub.preprocess_func or meta.preprocess_func,
        columns=columns,
        messages_style=style,
        remove_useless_columns=meta.remove_useless_columns,
        **kw,
    )


def _local_source(meta: DatasetMeta, sub: SubsetDataset, display: str, flag: str, several: bool) -> Source:
    path = meta.dataset_path
    subset = sub.subset if sub.subset not in (None, "default") else None
    shown = display + (f":{sub.name}" if several else "")
    if os.path.isfile(path):
        return _source(meta, sub, shown, "files", path, files=[(path, _shown_path(path, display))])
    if subset and os.path.isdir(os.path.join(path, subset)) and not _is_saved(path):
        path, display = os.path.join(path, subset), os.path.join(display, subset)
        subset = None
    if _is_saved(path):
        return _source(meta, sub, shown, "disk", path)
    files = data_files(path)
    if not files:
        raise UsageError(
            f"{flag} {display}: the folder has no dataset files ({', '.join(FILE_SUFFIXES)}) and is not "
            f"a save_to_disk folder"
        )
    if subset or _is_hub_repo(path, files):
        return _source(meta, sub, shown, "folder", path)
    return _source(
        meta, sub, shown, "files", path, files=[(f, os.path.join(display, os.path.relpath(f, path))) for f in files]
    )


def _shown_path(path: str, display: str) -> str:
    """How bad-row messages name a file: as the user typed it, else relative to the working folder."""
    if os.path.exists(os.path.expanduser(display)):
        return display
    rel = os.path.relpath(path)
    return rel if not rel.startswith("..") else path


def _is_saved(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, n)) for n in ("state.json", "dataset_dict.json"))


def data_files(folder: str) -> list[str]:
    """Dataset files under a folder, sorted, hidden folders (.git) skipped."""
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for n in sorted(names):
            if not n.startswith(".") and os.path.splitext(n)[1].lower() in FILE_SUFFIXES:
                out.append(os.path.join(root, n))
    return out


def _is_hub_repo(folder: str, files: list[str]) -> bool:
    """A cloned hub repository: configs in its README card, split-named files, or non-text files."""
    readme = os.path.join(folder, "README.md")
    if os.path.isfile(readme):
        with open(readme, encoding="utf-8", errors="replace") as f:
            head = f.read(65536)
        if head.startswith("---") and re.search(r"^configs:", head, re.M):
            return True
    rel = [os.path.relpath(f, folder).lower() for f in files]
    if any(_SPLIT_NAME.search(os.path.splitext(r)[0]) for r in rel):
        return True
    return any(os.path.splitext(r)[1] not in _TEXT_SUFFIXES for r in rel)
