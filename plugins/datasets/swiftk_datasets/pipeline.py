"""``load_datasets(args)``: every ``--dataset`` / ``--val_dataset`` value to standard rows.

For each value, top to bottom: parse the spec, find its sources (registered, local or hub),
read the raw rows, rename ``--columns``, standardize them (``dataset_num_proc`` processes),
drop and report bad rows (or stop, with ``--strict true``), refuse an empty result with the
reasons, then split off validation rows and apply ``#N``.  The parts are then concatenated.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from swiftk.api import UsageError
from swiftk_datasets import cache as cache_mod
from swiftk_datasets.catalog import Catalog, read_custom_info
from swiftk_datasets.errors import DropReport, logger
from swiftk_datasets.mapping import collect_errors, plan_output, rename_columns, run_map
from swiftk_datasets.messages import MessageStyle
from swiftk_datasets.options import DataOptions
from swiftk_datasets.preprocess import RowStandardizer
from swiftk_datasets.readers import ORIGIN, ReadResult, concat_results, read_file
from swiftk_datasets.sources import Source, resolve
from swiftk_datasets.spec import DatasetSpec, parse_spec


def load_datasets(args: Any) -> tuple[Any, Optional[Any]]:
    """``(train_dataset, val_dataset or None)`` for a run's arguments (see the module docstring)."""
    import numpy as np

    options = DataOptions.from_args(args)
    train_values = list(args.get("dataset") or [])
    val_values = list(args.get("val_dataset") or [])
    if not train_values and not val_values:
        raise UsageError(
            "--dataset: no dataset given; pass a file, folder or dataset id "
            "(e.g. --dataset data/train.jsonl or --dataset swift/self-cognition#500)"
        )
    if options.streaming:
        max_steps = args.get("max_steps")
        if "max_steps" in args and (max_steps is None or max_steps <= 0):
            raise UsageError(
                "--streaming true needs --max_steps: a streamed dataset has no length, so the number "
                "of training steps cannot be derived from --num_train_epochs"
            )
    loader = Loader(options, make_catalog(args))
    rng = np.random.RandomState(options.data_seed)
    ratio = 0.0 if (val_values or options.streaming) else options.split_dataset_ratio
    train_parts, val_parts = [], []
    for value in train_values:
        train, val = loader.load_split(parse_spec(value, "--dataset"), "--dataset", ratio, rng)
        train_parts.append(train)
        if val is not None:
            val_parts.append(val)
    for value in val_values:
        val, _ = loader.load_split(parse_spec(value, "--val_dataset"), "--val_dataset", 0.0, rng)
        val_parts.append(val)
    train = combine(train_parts, options.streaming)
    buffer_size = args.get("shuffle_buffer_size") if "shuffle_buffer_size" in args else None
    if buffer_size is not None:
        if not options.streaming:
            raise UsageError(
                f"--shuffle_buffer_size {buffer_size}: only a streamed dataset is shuffled through a buffer; add "
                "--streaming true, or drop it (the trainer shuffles an in-memory dataset every epoch)"
            )
        if buffer_size < 1:
            raise UsageError(f"--shuffle_buffer_size {buffer_size}: the buffer holds at least 1 row")
        train = train.shuffle(seed=options.data_seed, buffer_size=buffer_size) if train is not None else None
    return train, combine(val_parts, options.streaming)


def make_catalog(args: Any) -> Catalog:
    """The registry of named datasets plus this run's ``--custom_dataset_info`` entries."""
    from swiftk import get_host

    custom = read_custom_info(args.get("custom_dataset_info") or [])
    return Catalog(get_host().registry("datasets"), custom)


def resolve_preprocess(obj: Any, options: DataOptions, where: str) -> Any:
    """A DatasetMeta's ``preprocess_func`` as a row function ``row -> row``.

    Accepts a "module:attr" reference, a class (instantiated), an object with ``configure(options)``
    (given the run's data options, as self-cognition needs --model_name), a callable, or an object
    with a ``preprocess(row)`` method (ms-swift's style; :mod:`swiftk_datasets.compat`).
    """
    if obj is None:
        return None
    if isinstance(obj, str):
        from swiftk.api import resolve_reference

        try:
            obj = resolve_reference(obj)
        except Exception as exc:
            raise UsageError(
                f"{where}: preprocess_func '{obj}' cannot be imported: {type(exc).__name__}: {exc}"
            ) from exc
    if isinstance(obj, type):
        obj = obj()
    if hasattr(obj, "configure"):
        obj = obj.configure(options)
    if callable(obj):
        return obj
    if callable(getattr(obj, "preprocess", None)):
        return obj.preprocess
    raise UsageError(f"{where}: preprocess_func is a {type(obj).__name__}, not a function of a row")


class Loader:
    """Loads one spec at a time with the run's options; keeps the cache and catalog."""

    def __init__(self, options: DataOptions, catalog: Catalog):
        self.options = options
        self.catalog = catalog
        self.cache = cache_mod.Cache(options.enable_cache)

    def load_split(self, spec: DatasetSpec, flag: str, ratio: float, rng: Any) -> tuple[Any, Optional[Any]]:
        """(train part, validation part or None) of one spec, after sampling."""
        from swiftk_datasets.sampling import split_and_sample

        dataset = self.load(spec, flag)
        if self.options.streaming:
            return (dataset.take(spec.sample) if spec.sample else dataset), None
        return split_and_sample(dataset, spec.sample, ratio, rng, f"{flag} {spec.raw}")

    def load(self, spec: DatasetSpec, flag: str) -> Any:
        """Every selected subset of one spec, standardized and checked, concatenated."""
        sources = resolve(spec, self.catalog, flag=flag, use_hf=self.options.use_hf)
        parts = [self.load_source(source, flag) for source in sources]
        return combine(parts, self.options.streaming)

    def standardizer(self, source: Source, flag: str) -> RowStandardizer:
        where = f"{flag} {source.display}"
        preprocess = resolve_preprocess(source.preprocess, self.options, where)
        style = source.messages_style or getattr(getattr(preprocess, "__self__", preprocess), "messages_style", None)
        return RowStandardizer(needs=self.options.needs, style=MessageStyle.from_options(style), preprocess=preprocess)

    def columns(self, source: Source) -> dict:
        return {**source.columns, **(self.options.columns or {})}

    def keep_unused(self, source: Source) -> bool:
        return not (self.options.remove_unused_columns and source.remove_useless_columns)

    def load_source(self, source: Source, flag: str) -> Any:
        standardizer = self.standardizer(source, flag)
        if self.options.streaming:
            from swiftk_datasets.streaming import stream_source

            return stream_source(
                source,
                standardizer,
                self.columns(source),
                strict=self.options.strict,
                keep_unused=self.keep_unused(source),
                flag=flag,
                download_mode=self.options.download_mode,
                token=self.options.hub_token,
            )
        report = DropReport(f"{flag} {source.display}")
        raw, raw_key, json_columns = self.read(source, flag, report)
        raw = rename_columns(raw, self.columns(source), f"{flag} {source.display}")
        file_order = {d: i for i, (_, d) in enumerate(source.files)}
        if self.options.strict and len(report):
            _raise_first_before(raw, standardizer, report.first(), file_order, json_columns)
            report.raise_strict()
        if len(raw) == 0:  # nothing to map: say why (every row dropped while reading, or none there)
            report.raise_if_empty(0, _empty_hint(report))
        keep_unused = self.keep_unused(source)
        plan = plan_output(raw, standardizer, json_columns, keep_unused)
        key = cache_mod.fingerprint(
            raw_key,
            self.columns(source),
            standardizer.needs,
            repr(standardizer.style),
            _describe(standardizer.preprocess),
            sorted(json_columns),
            keep_unused,
            sorted(plan.features),
        )
        standard = run_map(
            raw,
            standardizer=standardizer,
            plan=plan,
            prefix=source.display,
            num_proc=self.options.num_proc,
            cache_file=self.cache.path("standard", key),
            load_from_cache=self.cache.enabled,
            fingerprint=key,
            desc=f"Preprocessing {source.display}",
        )
        standard = collect_errors(standard, report, file_order)
        if self.options.strict:
            report.raise_strict()
        report.raise_if_empty(len(standard), _empty_hint(report))
        report.log()
        logger.info(f"{flag} {source.display}: {len(standard)} rows ({plan.form} form)")
        return standard

    # -- reading ----------------------------------------------------------------------------
    def read(self, source: Source, flag: str, report: DropReport) -> tuple[Any, Any, frozenset]:
        """The raw rows of a source as a Dataset, a key identifying them, and their JSON-text columns."""
        if source.kind == "files":
            return self._read_files(source, report)
        import datasets

        if source.kind == "disk":
            loaded = datasets.load_from_disk(source.location)
            if isinstance(loaded, datasets.DatasetDict):
                missing = [s for s in source.splits if s not in loaded]
                if missing:
                    raise UsageError(f"{flag} {source.display}: no split '{missing[0]}' (has: {', '.join(loaded)})")
                loaded = datasets.concatenate_datasets([loaded[s] for s in source.splits])
            report.total = len(loaded)
            return _undecoded(loaded), [getattr(loaded, "_fingerprint", None)], frozenset()
        parts = []
        for split in source.splits:
            if source.kind == "hub":
                from swiftk_datasets.hub import load_hub

                parts.append(
                    load_hub(
                        source.location,
                        source.subset,
                        split,
                        flag=flag,
                        streaming=False,
                        download_mode=self.options.download_mode,
                        revision=source.revision,
                        modelscope=source.modelscope,
                        token=self.options.hub_token,
                    )
                )
            else:
                name = None if source.subset in (None, "default") else source.subset
                try:
                    parts.append(
                        datasets.load_dataset(
                            source.location, name, split=split, download_mode=self.options.download_mode
                        )
                    )
                except (ValueError, FileNotFoundError) as exc:
                    raise UsageError(
                        f"{flag} {source.display}: the folder could not be read as a dataset "
                        f"(subset '{source.subset or 'default'}', split '{split}'): {exc}"
                    ) from exc
        loaded = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        report.total = len(loaded)
        return _undecoded(loaded), [getattr(p, "_fingerprint", None) for p in parts], frozenset()

    def _read_files(self, source: Source, report: DropReport) -> tuple[Any, Any, frozenset]:
        from datasets import Dataset

        key = cache_mod.fingerprint(
            [cache_mod.file_fingerprint(p) for p, _ in source.files], [d for _, d in source.files]
        )
        arrow, meta_path = self.cache.path("raw", key), self.cache.path("raw", key, ".json")
        fresh = self.options.download_mode == "force_redownload" or not self.cache.enabled
        if fresh or not (os.path.exists(arrow) and os.path.exists(meta_path)):
            result = concat_results([read_file(p, d, i) for i, (p, d) in enumerate(source.files)])
            _write_arrow(result, arrow)
            with open(meta_path, "w", encoding="utf-8") as f:
                json.dump(
                    {
                        "json_columns": sorted(result.json_columns),
                        "total": result.total,
                        "dropped": [[d.origin, d.kind, d.message, list(d.order)] for d in result.dropped],
                    },
                    f,
                )
        with open(meta_path, encoding="utf-8") as f:
            meta = json.load(f)
        from swiftk_datasets.errors import Dropped

        report.extend(Dropped(o, k, m, tuple(order)) for o, k, m, order in meta["dropped"])
        report.total = meta["total"]
        return Dataset.from_file(arrow), key, frozenset(meta["json_columns"])


def _undecoded(dataset: Any) -> Any:
    """Media columns (Image, Audio, Video) cast to ``decode=False``: preprocessing passes their
    paths/bytes through instead of decoding and re-encoding every picture (as ms-swift does)."""
    import dataclasses

    def visit(feature: Any) -> Any:
        if isinstance(feature, dict):
            return {k: visit(v) for k, v in feature.items()}
        if isinstance(feature, list):
            return [visit(f) for f in feature]
        if dataclasses.is_dataclass(feature):
            names = {f.name for f in dataclasses.fields(feature)}
            if "decode" in names and getattr(feature, "decode"):
                return dataclasses.replace(feature, decode=False)
            if "feature" in names:
                return dataclasses.replace(feature, feature=visit(feature.feature))
        return feature

    features = dataset.features
    target = type(features)({k: visit(v) for k, v in features.items()})
    return dataset if target == features else dataset.cast(target)


def _raise_first_before(
    raw: Any, standardizer: RowStandardizer, unreadable: Any, file_order: dict, json_columns: frozenset
) -> None:
    """Strict mode found an unreadable line: a row above it that fails standardizing comes first."""
    from swiftk_datasets.errors import BadRow, origin_key

    for row in raw:
        origin = row.pop(ORIGIN)
        if origin_key(origin, file_order) >= unreadable.order:
            return
        try:
            for name in json_columns:
                if isinstance(row.get(name), str):
                    row[name] = json.loads(row[name])
            standardizer(row)
        except BadRow as exc:
            raise UsageError(
                f"{origin}: {exc.describe()} (--strict true stops at the first bad row; with "
                f"--strict false bad rows are dropped and counted)"
            ) from None


def _write_arrow(result: ReadResult, path: str) -> None:
    from datasets import Features
    from datasets.arrow_writer import ArrowWriter

    tmp = path + ".tmp"
    with ArrowWriter(path=tmp, features=Features.from_arrow_schema(result.table.schema)) as writer:
        writer.write_table(result.table)
        writer.finalize()
    os.replace(tmp, path)


def _describe(func: Any) -> str:
    """A stable description of a preprocess function for the cache key (its config included)."""
    if func is None:
        return ""
    owner = getattr(func, "__self__", None)
    target = owner if owner is not None else func
    name = f"{getattr(type(target), '__module__', '')}.{getattr(type(target), '__qualname__', '')}"
    return f"{getattr(func, '__module__', '')}.{getattr(func, '__qualname__', '')}|{name}|{target!r}"


def _empty_hint(report: DropReport) -> str:
    kinds = {d.kind for d in report.rows}
    if kinds & {"no conversation", "no response"}:
        return (
            "; check the column names (docs/datasets.md lists the accepted forms) or map them with "
            "--columns '{\"your_question\": \"query\", \"your_answer\": \"response\"}'"
        )
    return ""


def combine(parts: list, streaming: bool) -> Any:
    """Several datasets as one: columns aligned (missing ones added empty), then concatenated."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    import datasets

    if streaming:
        strategy = "all_exhausted_without_replacement"
        try:
            return datasets.interleave_datasets(parts, stopping_strategy=strategy)
        except (ValueError, TypeError):
            return datasets.concatenate_datasets(parts)
    return datasets.concatenate_datasets(align(parts))


def align(parts: list) -> list:
    """Give every dataset the same columns, in the same order, with the same types."""
    features: dict = {}
    for p in parts:
        for name, feature in p.features.items():
            if name not in features or _is_null(features[name]):
                features[name] = feature
    if ORIGIN in features:  # the origin stays the last column
        features[ORIGIN] = features.pop(ORIGIN)
    out = []
    for p in parts:
        for name, feature in features.items():
            if name not in p.column_names:
                p = p.add_column(name, [None] * len(p)).cast_column(name, feature)
            elif p.features[name] != feature:
                try:
                    p = p.cast_column(name, feature)
                except Exception as exc:
                    raise UsageError(
                        f"column '{name}' has type {p.features[name]} in one dataset and {feature} in "
                        f"another; rename it in one of them with --columns"
                    ) from exc
        out.append(p.select_columns(list(features)))
    return out


def _is_null(feature: Any) -> bool:
    return getattr(feature, "dtype", None) == "null"
