"""Named datasets: the ``datasets`` registry plus ``--custom_dataset_info`` files.

A ``--dataset`` value names a registered dataset by its registry name, its ``ms_dataset_id``,
``hf_dataset_id`` or ``dataset_name`` (so ms-swift command lines work unchanged), or a local
path that a custom_dataset_info entry describes (so its ``columns`` apply).

``--custom_dataset_info`` takes ms-swift's ``dataset_info.json`` schema: a list of entries with
``ms_dataset_id`` / ``hf_dataset_id`` / ``dataset_path`` (relative to the JSON file),
``dataset_name``, ``subsets`` (names or objects), ``split``, ``columns``, ``messages``
(role_key, content_key, user_role, assistant_role, system_role, tool_role), ``tags``, ``help``,
``huge_dataset``, ``remove_useless_columns``, and our ``preprocess_func`` ("module:attr").
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import json
import os
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from swiftk.api import DatasetMeta, SubsetDataset, UsageError

_META_KEYS = {f.name for f in dataclasses.fields(DatasetMeta)} - {"extra"}
_SUBSET_KEYS = {f.name for f in dataclasses.fields(SubsetDataset)}
_EXTRA_KEYS = {"columns", "messages"}


@dataclass
class Found:
    """A registered dataset and the name it was found under."""

    name: str
    meta: DatasetMeta
    plugin: Optional[str] = None


def as_meta(value: Any, where: str) -> DatasetMeta:
    """A registry value as a DatasetMeta (plugins may register a dict in dataset_info.json form)."""
    if isinstance(value, DatasetMeta):
        return value
    if isinstance(value, dict):
        return meta_from_info(value, base_dir=None, where=where)
    raise UsageError(f"{where} is a {type(value).__name__}, not a swiftk.specs.DatasetMeta")


def meta_from_info(info: dict, base_dir: Optional[str], where: str) -> DatasetMeta:
    """One dataset_info.json entry as a DatasetMeta (``columns``/``messages`` go to ``extra``)."""
    if not isinstance(info, dict):
        raise UsageError(f"{where}: each entry is an object, got {type(info).__name__}")
    unknown = set(info) - _META_KEYS - _EXTRA_KEYS
    if unknown:
        key = sorted(unknown)[0]
        close = difflib.get_close_matches(key, sorted(_META_KEYS | _EXTRA_KEYS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UsageError(f"{where}: unknown key '{key}'{hint} (valid: {', '.join(sorted(_META_KEYS | _EXTRA_KEYS))})")
    fields = {k: v for k, v in info.items() if k in _META_KEYS}
    extra = {k: info[k] for k in _EXTRA_KEYS if k in info}
    if not (fields.get("ms_dataset_id") or fields.get("hf_dataset_id") or fields.get("dataset_path")):
        raise UsageError(f"{where}: an entry needs ms_dataset_id, hf_dataset_id or dataset_path")
    path = fields.get("dataset_path")
    if path:
        path = os.path.expanduser(path)
        if base_dir and not os.path.isabs(path):
            path = os.path.join(base_dir, path)
        fields["dataset_path"] = os.path.abspath(path)
    if "subsets" in fields:
        fields["subsets"] = [_subset(s, f"{where} subsets[{i}]") for i, s in enumerate(fields["subsets"])]
    for key in ("split", "tags"):
        if isinstance(fields.get(key), str):
            fields[key] = [fields[key]]
    return DatasetMeta(**fields, extra=extra)


def _subset(value: Any, where: str) -> Any:
    if isinstance(value, (str, SubsetDataset)):
        return value
    if not isinstance(value, dict):
        raise UsageError(f"{where}: a subset is a name or an object, got {type(value).__name__}")
    unknown = set(value) - _SUBSET_KEYS - _EXTRA_KEYS
    if unknown:
        raise UsageError(
            f"{where}: unknown key '{sorted(unknown)[0]}' (valid: {', '.join(sorted(_SUBSET_KEYS))}, columns, messages)"
        )
    subset = SubsetDataset(**{k: v for k, v in value.items() if k in _SUBSET_KEYS})
    extra = {k: value[k] for k in _EXTRA_KEYS if k in value}
    if extra:
        subset.__dict__["extra"] = extra  # SubsetDataset has no extra field; keep them alongside
    return subset


def read_custom_info(values: Iterable[str]) -> list[DatasetMeta]:
    """Every entry of every ``--custom_dataset_info`` value (a JSON file path or a JSON string)."""
    metas: list[DatasetMeta] = []
    for value in values or ():
        if isinstance(value, (dict, list)):
            data, base, where = value, None, "--custom_dataset_info"
        else:
            path = os.path.expanduser(str(value))
            if os.path.isfile(path):
                where, base = f"--custom_dataset_info {value}", os.path.dirname(os.path.abspath(path))
                try:
                    with open(path, encoding="utf-8") as f:
                        data = json.load(f)
                except json.JSONDecodeError as exc:
                    raise UsageError(
                        f"{where}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
                    ) from None
            elif str(value).lstrip().startswith(("[", "{")):
                where, base = "--custom_dataset_info", None
                data = _json_or_literal(str(value), where)
            else:
                raise UsageError(f"--custom_dataset_info {value}: no such file")
        entries = [data] if isinstance(data, dict) else data
        if not isinstance(entries, list):
            raise UsageError(f"{where}: expected a list of dataset entries")
        metas.extend(meta_from_info(e, base, f"{where} entry {i}") for i, e in enumerate(entries))
    return metas


def _json_or_literal(text: str, where: str) -> Any:
    """JSON text; or the Python repr the command-line parser makes of each object of a JSON list."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise UsageError(f"{where}: not valid JSON: {exc.msg} at column {exc.colno}") from None


def _keys(meta: DatasetMeta) -> list[str]:
    return [k for k in (meta.dataset_name, meta.ms_dataset_id, meta.hf_dataset_id, meta.dataset_path) if k]


class Catalog:
    """Lookup of named datasets: custom_dataset_info entries first, then the plugin registry."""

    def __init__(self, registry: Any = None, custom: Iterable[DatasetMeta] = ()):
        self.registry = registry
        self.custom = list(custom)

    def find(self, name: str) -> Optional[Found]:
        for meta in self.custom:
            if name in _keys(meta):
                return Found(name, meta, "custom_dataset_info")
        if self.registry is None:
            return None
        if name in self.registry:
            entry = self.registry.entry(name)
            return Found(name, as_meta(entry.load(), f"dataset '{name}' of plugin '{entry.plugin}'"), entry.plugin)
        for entry in self.registry.entries():  # an ms/hf id or dataset_name of a registered dataset
            value = entry.load()
            if isinstance(value, DatasetMeta) and name in _keys(value):
                return Found(entry.name, value, entry.plugin)
        return None

    def find_path(self, path: str) -> Optional[Found]:
        """A custom_dataset_info entry whose dataset_path is this local path."""
        target = os.path.abspath(os.path.expanduser(path))
        for meta in self.custom:
            if meta.dataset_path and os.path.abspath(meta.dataset_path) == target:
                return Found(path, meta, "custom_dataset_info")
        return None

    def names(self) -> list[str]:
        names = [k for meta in self.custom for k in _keys(meta)[:1]]
        if self.registry is not None:
            names.extend(self.registry.names())
        return names
