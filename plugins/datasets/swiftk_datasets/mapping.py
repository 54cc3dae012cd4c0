"""The preprocessing step as one ``datasets`` map: raw rows in, standard rows out.

The output schema is fixed before the map runs (standard columns have fixed types, extra columns
keep their input type), so ``dataset_num_proc`` workers write compatible files and a batch of
rejected rows never leaves a column untyped.  A rejected row is written with its reason in the
``__error__`` column and removed afterwards, which is how the reasons of every worker reach the
summary.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from swiftk.api import UsageError
from swiftk_datasets.errors import BadRow, Dropped, DropReport, decode_error, encode_error, origin_key
from swiftk_datasets.preprocess import STANDARD_COLUMNS, Layout, RowStandardizer
from swiftk_datasets.readers import ORIGIN

ERROR = "__error__"
PROBE_ROWS = 100


def message_feature() -> list:
    from datasets import Value

    return [{"role": Value("string"), "content": Value("string")}]


def standard_features() -> dict:
    from datasets import Value

    return {
        "messages": message_feature(),
        "rejected_messages": message_feature(),
        "rejected_response": Value("string"),
        "label": Value("bool"),
        "tools": Value("string"),
    }


def _is_list_feature(feature: Any) -> bool:
    return isinstance(feature, list) or type(feature).__name__ in ("List", "Sequence", "LargeList")


def rename_columns(dataset: Any, mapping: dict, flag: str) -> Any:
    """``--columns`` / dataset_info ``columns``: rename the columns present; a clash is an error."""
    names = dataset.column_names
    present = {src: dst for src, dst in (mapping or {}).items() if src in names and src != dst}
    if not present:
        return dataset
    for src, dst in present.items():
        if dst in names and dst not in present:
            raise UsageError(
                f"{flag}: --columns maps '{src}' to '{dst}', but the dataset already has a column "
                f"'{dst}'; map that one elsewhere too (e.g. '{{\"{dst}\": \"old_{dst}\"}}')"
            )
    return dataset.rename_columns(present)


def rename_row(row: dict, mapping: dict) -> dict:
    if not mapping:
        return row
    return {mapping.get(k, k): v for k, v in row.items()}


class Plan:
    """The output columns of one source and their features."""

    def __init__(self, features: Any, decode: frozenset, form: str):
        self.features = features
        self.decode = decode
        self.form = form

    @property
    def data_columns(self) -> list[str]:
        return [c for c in self.features if c not in (ORIGIN, ERROR)]


def plan_output(raw: Any, standardizer: RowStandardizer, json_columns: frozenset, keep_unused: bool) -> Plan:
    """Decide the output schema: from the column names, or by probing a user's preprocess_func."""
    from datasets import Features, Value

    raw_features = dict(raw.features)
    raw_columns = [c for c in raw.column_names if c != ORIGIN]
    std = standard_features()
    if not standardizer.needs.label_or_rejected and "label" in raw_features:
        # a KTO label is a boolean; elsewhere (sequence classification) the label keeps its type
        std["label"] = Value("string") if "label" in json_columns else raw_features["label"]
    if standardizer.preprocess is None:
        layout = Layout.from_columns(raw_columns)
        rejected_feature = raw_features.get(layout.rejected) if layout.rejected else None
        rejected_is_list = layout.rejected in json_columns or _is_list_feature(rejected_feature)
        columns = layout.output_columns(rejected_is_list=bool(layout.rejected and rejected_is_list))
        extra_features = {c: (Value("string") if c in json_columns else raw_features[c]) for c in layout.extras}
        for src, dst in layout.media:
            extra_features[dst] = Value("string") if src in json_columns else raw_features[src]
        decode = frozenset(json_columns) - set(layout.extras)
    else:
        outputs = _probe(raw, standardizer, json_columns)
        keys: dict[str, None] = {}
        for out in outputs:
            keys.update(dict.fromkeys(out))
        columns = [c for c in keys if c in std]
        extra_features = _infer_features(
            [{c: o.get(c) for c in keys if c not in std} for o in outputs], raw_features, json_columns
        )
        decode = frozenset(json_columns)
        layout = None
    features = {c: std[c] for c in columns}
    for name, feature in extra_features.items():
        if name in features or name in (ORIGIN, ERROR):
            continue
        if keep_unused or name in STANDARD_COLUMNS:
            features[name] = feature
    features[ORIGIN] = Value("string")
    features[ERROR] = Value("string")
    return Plan(Features(features), decode, layout.form if layout else "preprocess_func")


def _probe(raw: Any, standardizer: RowStandardizer, json_columns: frozenset) -> list[dict]:
    """Run the row function on the first rows to learn which columns it produces."""
    outputs = []
    sample = raw.select(range(min(len(raw), PROBE_ROWS)))
    for row in sample:
        row = {k: v for k, v in row.items() if k != ORIGIN}
        _decode(row, json_columns)
        try:
            outputs.append(standardizer(row))
        except BadRow:
            continue
    return outputs or [{"messages": None}]


def _infer_features(rows: list[dict], raw_features: dict, json_columns: frozenset) -> dict:
    from datasets import Dataset, Value

    out = {}
    for key in rows[0] if rows else {}:
        if key in raw_features and key not in json_columns:
            out[key] = raw_features[key]
            continue
        values = [r.get(key) for r in rows if r.get(key) is not None]
        out[key] = Dataset.from_dict({key: values}).features[key] if values else Value("string")
    return out


def _decode(row: dict, columns: frozenset) -> None:
    for name in columns:
        value = row.get(name)
        if isinstance(value, str):
            row[name] = json.loads(value)


def standardize_batch(
    batch: dict, indices: list, *, standardizer: RowStandardizer, columns: list, decode: frozenset, prefix: str
) -> dict:
    """Map function: each row standardized, or its reason written to ``__error__``."""
    keys = [k for k in batch if k != ORIGIN]
    n = len(indices)
    out: dict[str, list] = {c: [None] * n for c in columns}
    errors: list = [None] * n
    origins = batch[ORIGIN] if ORIGIN in batch else [f"{prefix}[{i}]" for i in indices]
    for i in range(n):
        row = {k: batch[k][i] for k in keys}
        try:
            _decode(row, decode)
            std = standardizer(row)
        except BadRow as exc:
            errors[i] = encode_error(exc.kind, exc.describe())
            continue
        for c in columns:
            out[c][i] = std.get(c)
    out[ORIGIN] = list(origins)
    out[ERROR] = errors
    return out


def collect_errors(dataset: Any, report: DropReport, file_order: dict) -> Any:
    """Move the ``__error__`` rows into ``report``; return the dataset without them (and the column)."""
    import numpy as np

    column = dataset.data.column(ERROR)
    if column.null_count == len(column):
        return dataset.remove_columns(ERROR)
    errors = column.to_pylist()
    bad = [i for i, e in enumerate(errors) if e is not None]
    origins = dataset.data.column(ORIGIN).take(bad).to_pylist()
    for i, origin in zip(bad, origins):
        kind, message = decode_error(errors[i])
        report.add(Dropped(origin, kind, message, origin_key(origin, file_order)))
    keep = np.ones(len(dataset), dtype=bool)
    keep[bad] = False
    return dataset.select(np.flatnonzero(keep)).remove_columns(ERROR)


def run_map(
    raw: Any,
    *,
    standardizer: RowStandardizer,
    plan: Plan,
    prefix: str,
    num_proc: int,
    cache_file: Optional[str],
    load_from_cache: bool,
    fingerprint: str,
    desc: str,
) -> Any:
    kwargs = dict(standardizer=standardizer, columns=plan.data_columns, decode=plan.decode, prefix=prefix)
    procs = min(num_proc, max(1, len(raw)))
    return raw.map(
        standardize_batch,
        batched=True,
        batch_size=1000,
        with_indices=True,
        fn_kwargs=kwargs,
        features=plan.features,
        remove_columns=raw.column_names,
        num_proc=procs if procs > 1 else None,
        cache_file_name=cache_file,
        load_from_cache_file=load_from_cache,
        new_fingerprint=fingerprint,
        desc=desc,
    )
