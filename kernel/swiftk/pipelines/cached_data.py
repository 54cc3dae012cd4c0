"""``--to_cached_dataset`` / ``--cached_dataset``: tokenize once, train many times (later ms-swift, 3.11+).

``swiftk export --to_cached_dataset true`` loads the processor (no weights), encodes ``--dataset`` as the training
command would (``--template_mode train``: sft and pt; ``rlhf``: preference pairs as ``--rlhf_type dpo`` encodes
them; ``kto``) and writes ``<output_dir>/train`` and ``<output_dir>/val`` with datasets' ``save_to_disk``, each with
``swiftk_cache.json``: what the encoding depended on.  ``--cached_dataset FOLDER[#N]`` reads them back in place of
``--dataset`` after checking that this run would encode rows the same way (the template, the model type, the
encoder of its trainer, the template's mode); ``--max_length`` drops or cuts longer rows as
``--truncation_strategy`` says; ``#N`` samples as ``--dataset`` does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Optional

from swiftk.errors import UsageError
from swiftk.registry import load_reference

META = "swiftk_cache.json"
#: template_mode -> the trainer whose encoder writes the rows
MODE_TRAINERS = {"train": "sft", "rlhf": "dpo", "kto": "kto"}
#: what else changes the encoded tokens, compared between the export and the training run
_ENCODING_ARGS = ("system", "loss_scale", "use_chat_template", "tools_prompt", "norm_bbox", "template_backend")


def encoder_of(spec: Any) -> str:
    """The reference of a trainer spec's row encoder; ``template`` for the template's own."""
    encode = getattr(spec, "encode", None)
    if encode is None:
        return "template"
    return encode if isinstance(encode, str) else f"{encode.__module__}:{encode.__qualname__}"


def signature(args: Any, model_info: Any, template_name: Optional[str], encoder: str, mode: str) -> dict:
    return {
        "template": template_name,
        "model_type": model_info.model_type,
        "encoder": encoder,
        "template_mode": mode,
        **{name: args.get(name) if name in args else None for name in _ENCODING_ARGS},
    }


# --- export ------------------------------------------------------------------------------------------------------


def export_cached_dataset(args: Any) -> str:
    """Encode ``--dataset`` into ``<output_dir>/train`` (and ``val``); the folder appears whole or not at all."""
    from swiftk.host import get_host
    from swiftk.pipelines.data import encode_dataset, load_datasets
    from swiftk.pipelines.model import get_template, load_model_and_processor, template_name
    from swiftk.specs import TrainerSpec

    if args.get("packing"):
        raise UsageError("--to_cached_dataset: --packing is applied when training from the cache; drop it here")
    if args.get("streaming"):
        raise UsageError("--to_cached_dataset: --streaming datasets cannot be saved; set --streaming false")
    mode = args.get("template_mode") or "train"
    if mode != "train" and "loss_scale" not in args.explicit:
        from swiftk.pipelines.rlhf import derived_args

        args = derived_args(args, loss_scale="last_round")  # swiftk rlhf's default, so its runs read the cache
    spec = get_host().get("trainers", MODE_TRAINERS[mode])
    spec = spec if isinstance(spec, TrainerSpec) else TrainerSpec(trainer_cls=spec)
    _, processor, info = load_model_and_processor(args, load_model=False)
    if info.is_multimodal:
        raise UsageError(
            f"--to_cached_dataset: {info.model_type} is multimodal; its images are encoded while training "
            f"(--lazy_tokenize), so there is nothing to cache: train from --dataset"
        )
    template = get_template(args, processor, info, mode="train")
    train, val = load_datasets(args)
    make_encoder = load_reference(spec.encode) if spec.encode is not None else (lambda t, a, d: t.encode)
    meta = signature(args, info, template_name(args, info), encoder_of(spec), getattr(template, "mode", "train"))
    meta["max_length"] = args.get("max_length")
    output_dir = os.path.abspath(args.output_dir)
    if os.path.exists(output_dir):
        if not args.get("exist_ok"):
            raise UsageError(f"--output_dir {output_dir} exists; pass --exist_ok true to replace it")
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".cached-", dir=parent)
    try:
        for split, rows in (("train", train), ("val", val)):
            if rows is None:
                continue
            encoded = encode_dataset(
                rows, make_encoder(template, args, rows), num_proc=args.dataset_num_proc, strict=args.strict
            )
            folder = os.path.join(staging, split)
            encoded.save_to_disk(folder)
            with open(os.path.join(folder, META), "w", encoding="utf-8") as f:
                json.dump({**meta, "rows": len(encoded)}, f, indent=2)
            print(f"[swiftk] cached_dataset: {os.path.join(output_dir, split)} ({len(encoded)} rows)", flush=True)
        if os.path.exists(output_dir):
            shutil.rmtree(output_dir)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output_dir


# --- training ----------------------------------------------------------------------------------------------------


def load_cached_datasets(args: Any, expected: dict) -> tuple[Any, Any]:
    """The ``--cached_dataset`` and ``--cached_val_dataset`` rows, checked against this run's encoding."""
    if args.get("dataset") or args.get("val_dataset"):
        raise UsageError(
            "--cached_dataset with --dataset/--val_dataset: train from one kind; tokenize the others with "
            "`swiftk export --to_cached_dataset true` and list every folder in --cached_dataset"
        )
    if args.get("streaming"):
        raise UsageError("--cached_dataset: a tokenized dataset is read from disk; set --streaming false")
    train = _load_all(args.get("cached_dataset") or [], "--cached_dataset", args, expected)
    val = _load_all(args.get("cached_val_dataset") or [], "--cached_val_dataset", args, expected)
    if train is None:
        raise UsageError("--cached_val_dataset needs --cached_dataset (the tokenized training rows)")
    return train, val


def _load_all(values: list, flag: str, args: Any, expected: dict) -> Any:
    if not values:
        return None
    from datasets import concatenate_datasets

    parts = [_load_one(value, flag, args, expected) for value in values]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def _load_one(value: str, flag: str, args: Any, expected: dict) -> Any:
    from datasets import load_from_disk

    folder, _, count = str(value).partition("#")
    meta_path = os.path.join(folder, META)
    if not os.path.isfile(meta_path):
        hint = " (the export's train/ or val/ folder)" if os.path.isdir(os.path.join(folder, "train")) else ""
        raise UsageError(f"{flag} {folder}: not a folder written by `swiftk export --to_cached_dataset true`{hint}")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    for key, want in expected.items():
        if meta.get(key) != want:
            raise UsageError(
                f"{flag} {folder}: it was encoded with {key} {meta.get(key)!r}, this run encodes with {want!r}; "
                f"export it again with this run's arguments (swiftk export --to_cached_dataset true)"
            )
    dataset = load_from_disk(folder)
    if count:
        if not count.isdigit() or int(count) <= 0:
            raise UsageError(f"{flag} {value}: '#{count}' is no sample count (a positive integer)")
        dataset = _sample(dataset, int(count), args.get("data_seed") or 42)
    return _fit(dataset, flag, folder, args, meta.get("max_length"))


def _sample(dataset: Any, n: int, seed: int) -> Any:
    """``#N`` as --dataset samples: whole copies of the data, then a random part of one more."""
    import numpy as np

    rng = np.random.default_rng(seed)
    whole, part = divmod(n, len(dataset))
    order = [i for _ in range(whole) for i in range(len(dataset))]
    order += rng.permutation(len(dataset))[:part].tolist()
    return dataset.select(order)


def _fit(dataset: Any, flag: str, folder: str, args: Any, exported: Optional[int] = None) -> Any:
    """Rows longer than --max_length dropped (``delete``) or cut (``left``/``right``) as the template would; rows of
    preference pairs (no ``input_ids``) are not cut here: a --max_length below the export's is refused."""
    max_length = args.get("max_length")
    if not max_length:
        return dataset
    if "input_ids" not in dataset.column_names:
        if exported and max_length < exported:
            raise UsageError(
                f"{flag} {folder}: its pairs were encoded with --max_length {exported}; this run's --max_length "
                f"{max_length} would need them cut again: export it with --max_length {max_length}"
            )
        return dataset
    lengths = [len(ids) for ids in dataset["input_ids"]]
    if max(lengths, default=0) <= max_length:
        return dataset
    strategy = args.get("truncation_strategy") or "delete"
    if strategy == "delete":
        keep = [i for i, n in enumerate(lengths) if n <= max_length]
        print(f"[swiftk] {flag} {folder}: {len(lengths) - len(keep)} rows longer than --max_length dropped", flush=True)
        if not keep:
            raise UsageError(f"{flag} {folder}: every row is longer than --max_length {max_length}")
        return dataset.select(keep)
    per_token = [c for c in ("input_ids", "labels", "loss_scale", "position_ids") if c in dataset.column_names]

    def cut(row: dict) -> dict:
        n = len(row["input_ids"])
        if n <= max_length:
            return row
        window = slice(n - max_length, n) if strategy == "left" else slice(0, max_length)
        return {**row, **{c: row[c][window] for c in per_token if row.get(c) is not None}}

    return dataset.map(cut, desc="Truncating")
