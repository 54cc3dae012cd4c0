"""Calibration data for ``swiftk export --quant_method gptq|awq``: ``--dataset`` rows as the model sees them.

:func:`calibration_samples` reads ``--dataset`` through the data plugin (``load_datasets``), renders each
row with the chat template of the model being quantized (the template the kernel resolved for ``--model``,
so a fine-tuned chat model is calibrated on conversations in its own format, answers included), keeps
``--quant_n_samples`` rows (a seeded sample, ``--data_seed``, when the data has more) and cuts each to
``--max_length`` tokens.  The result is what GPTQModel's ``quantize`` takes: a list of
``{"input_ids": [...], "attention_mask": [...]}``.

Unlike ms-swift, rows are not concatenated into ``--max_length`` blocks: each row is one sample, so a few
short conversations still give GPTQ/AWQ a sample per row.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError

DEFAULT_N_SAMPLES = 256


def require_dataset(args: Any) -> list:
    """``--dataset``, or the one-line error saying gptq/awq calibrate on it (checked before anything loads)."""
    datasets = list(args.get("dataset") or [])
    if not datasets:
        method = args.get("quant_method") or "gptq"
        raise UsageError(
            f"--quant_method {method} needs calibration data: pass --dataset (e.g. --dataset swiftk/demo-sft, "
            f"or a jsonl of conversations like the model's training data); --quant_n_samples rows are used"
        )
    return datasets


def calibration_samples(args: Any, model_dir: str) -> list[dict]:
    """``--quant_n_samples`` rows of ``--dataset`` rendered by ``model_dir``'s template, each at most
    ``--max_length`` tokens: ``[{"input_ids": [...], "attention_mask": [...]}, ...]``."""
    from swiftk.api import (
        derived_args,
        encode_dataset,
        get_template,
        load_datasets,
        load_model_and_processor,
        resolve_model,
        template_name,
    )

    require_dataset(args)
    n_samples = int(args.get("quant_n_samples") or DEFAULT_N_SAMPLES)
    if n_samples <= 0:
        raise UsageError(f"--quant_n_samples must be a positive number of calibration rows, got {n_samples}")
    max_length = args.get("max_length")
    max_length = int(max_length) if max_length else None

    # The model type and template the kernel resolved for --model (model_dir may be a temporary folder
    # holding --adapters merged into it, whose name alone would not say which template it speaks).
    source = resolve_model(derived_args(args, quant_method=None, adapters=[]))
    explicit = set(getattr(args, "explicit", ()) or ())
    model_args = derived_args(
        args,
        model=model_dir,
        model_type=source.model_type,
        template=template_name(args, source),
        quant_method=None,
        adapters=[],
        # a long row is cut to --max_length, not dropped (unless --truncation_strategy says otherwise)
        truncation_strategy=args.get("truncation_strategy") if "truncation_strategy" in explicit else "right",
    )
    _, processor, info = load_model_and_processor(model_args, load_model=False)
    template = get_template(model_args, processor, info, mode="train")

    # every --dataset row is a candidate (no validation split); --val_dataset is not calibration data
    data_args = derived_args(args, split_dataset_ratio=0.0, val_dataset=[], streaming=False)
    train, _ = load_datasets(data_args)
    available = len(train) if train is not None else 0
    if available > n_samples:
        seed = args.get("data_seed")
        train = train.shuffle(seed=42 if seed is None else int(seed)).select(range(n_samples))
    encoded = encode_dataset(train, template.encode, num_proc=1, lazy=False, strict=False, desc="Calibration")

    samples = []
    for row in encoded:
        ids = [int(t) for t in (row.get("input_ids") or [])]
        if max_length:
            ids = ids[:max_length]
        if ids:
            samples.append({"input_ids": ids, "attention_mask": [1] * len(ids)})
    if not samples:
        raise UsageError(
            f"--dataset {' '.join(args.get('dataset') or [])}: no row could be rendered by template "
            f"'{template_name(model_args, info)}' as calibration data for --quant_method {args.get('quant_method')}"
        )
    if len(samples) < n_samples:
        print(
            f"[swiftk] --quant_n_samples {n_samples}: the calibration data has {len(samples)} usable rows; "
            f"calibrating on all {len(samples)}"
        )
    return samples


__all__ = ["calibration_samples", "require_dataset", "DEFAULT_N_SAMPLES"]
