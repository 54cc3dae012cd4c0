"""``swiftk export`` and ``swiftk merge-lora``: merge a tuner checkpoint, quantize, push to a hub.

Read top to bottom (:func:`run`):

1. what to do is checked before anything loads: ``--quant_method`` names a registered quantizer with
   an ``export`` step (a missing one names its distribution), ``--merge_lora`` needs ``--adapters``,
   and every adapter's tuner must be able to merge;
2. with ``--merge_lora``: the base model named by the adapter's ``args.json`` (``--load_args``, done
   while parsing) is loaded, each ``--adapters`` checkpoint applied by the tuner that saved it
   (:func:`apply_adapters`) and merged (``TunerSpec.merge``), and the full model written to
   ``--output_dir`` (``<adapter>-merged`` by default): config, weights sharded by ``--max_shard_size``
   (safetensors, or ``.bin`` with ``--safe_serialization false``), tokenizer/processor, generation
   config, and the export's ``args.json``;
3. with ``--quant_method``: the full-precision model (``--model``, or the adapters merged into it in a
   temporary folder) is quantized by the quantizer's ``export(args, model_dir, output_dir)`` into
   ``<model>-<method>-int<bits>`` by default; the tokenizer, chat template and generation config the
   quantizer did not write are copied from the source;
4. with ``--push_to_hub``: the folder written (or, with nothing else to do, the ``--adapters``
   checkpoint or ``--model`` folder itself) goes to ``--hub_model_id`` through the ``upload_model``
   hook (swift-plugin-models).

Every folder is written into ``<output_dir>.staging`` and renamed into place only when complete.

:func:`saved_train_type` and :func:`apply_adapters` are also what ``swiftk infer --adapters`` uses:
a checkpoint says which tuner made it (``swiftk_tuner.json``, else the ``train_type`` of its
``args.json``, else a peft ``adapter_config.json`` means peft), and that tuner's ``load`` restores it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any, Callable, Optional

from swiftk.errors import UsageError
from swiftk.io import RUN_LOCK, claim_output_dir, release_run_lock, renew_run_lock
from swiftk.registry import load_reference

_NATIVE_CONFIG = "swiftk_tuner.json"
_KEEP_IN_OUTPUT = {"args.json"}
#: files of a model folder that are not weights: copied from the source when a quantizer did not write them
_SUPPORT_FILES = tuple(
    "tokenizer.json tokenizer_config.json tokenizer.model special_tokens_map.json added_tokens.json vocab.json "
    "merges.txt chat_template.jinja chat_template.json generation_config.json preprocessor_config.json "
    "processor_config.json".split()
)


def run(args: Any) -> int:
    # tokenize --dataset in advance (later ms-swift; swift-plugin-datasets' argument): nothing else is exported
    if "to_cached_dataset" in args and args.get("to_cached_dataset"):
        from swiftk.pipelines.cached_data import export_cached_dataset

        export_cached_dataset(args)
        return 0
    # 1. what to do, checked before anything loads
    quant_method = args.get("quant_method")
    quantize = _export_step(quant_method, args) if quant_method else None
    adapters = list(args.get("adapters") or [])
    merge = bool(args.get("merge_lora"))
    push = bool(args.get("push_to_hub"))
    to_ollama = "to_ollama" in args and bool(args.get("to_ollama"))  # swift-plugin-models' argument
    if to_ollama:
        from swiftk.pipelines.ollama import check

        check(args)
    if not (quantize or merge or push or to_ollama):
        raise UsageError(
            f"swiftk {args.command}: nothing to do; pass --merge_lora true with --adapters CHECKPOINT, "
            f"--quant_method METHOD, --push_to_hub true, --to_ollama true or --to_cached_dataset true"
        )
    if push and not args.get("hub_model_id"):
        raise UsageError("--push_to_hub needs --hub_model_id: the hub repository to upload to, e.g. me/my-model")
    if merge and not adapters:
        raise UsageError("--merge_lora needs --adapters: the checkpoint folder(s) to merge into the base model")
    if merge or quantize:
        for train_type, spec in [tuner_of(path) for path in adapters]:
            if spec.merge is None:
                merge_tuned(None, train_type, spec)
        output_dir = args.get("output_dir")
        check_output_dir(output_dir, bool(args.get("exist_ok")))
        created = not os.path.exists(output_dir)
        claim_output_dir(output_dir)  # locked against a concurrent run; its args.json follows once the model resolves
        try:
            folder = _quantized(args, quantize, adapters) if quantize else _merged(args, adapters)
        except BaseException:
            if created:  # nothing half-written: the folder this export made goes with it
                release_run_lock(output_dir)
                shutil.rmtree(output_dir, ignore_errors=True)
            raise
    else:
        folder = adapters[0] if adapters else _model_folder(args)  # as ms-swift: the first checkpoint
    if to_ollama:  # the merged folder, or the model's own
        from swiftk.pipelines.ollama import write_modelfile

        if not merge:
            check_output_dir(args.get("output_dir"), bool(args.get("exist_ok")))
        write_modelfile(args, folder)
    # 4. the hub
    if push:
        upload(folder, args)
    return 0


def _export_step(quant_method: str, args: Any) -> Callable[..., Any]:
    """The quantizer's export step, after its ``check(args)``."""
    from swiftk.host import get_host

    registry = get_host().registry("quantizers")
    quantizer = registry.get(quant_method)  # unknown: names the distribution to install
    export = getattr(quantizer, "export", None)
    if export is None:
        raise UsageError(
            f"--quant_method {quant_method}: plugin '{registry.entry(quant_method).plugin}' registered it "
            f"for quantizing a model as it loads, without an export step, so swiftk export cannot write it"
        )
    check = getattr(quantizer, "check", None)
    if check is not None:
        load_reference(check)(args)
    return load_reference(export)


def _load_and_record(args: Any) -> tuple[Any, Any, Any]:
    """The base model in full precision (model, template and dtype come from the adapter's args.json)."""
    from swiftk.pipelines.model import load_model_and_processor
    from swiftk.pipelines.rlhf import derived_args

    loaded = load_model_and_processor(derived_args(args, quant_method=None))
    _record(args, loaded[2])
    return loaded


def _record(args: Any, info: Any) -> None:
    """The resolved model type and template in the output's args.json, so that every later command
    reading the folder resolves the same."""
    from swiftk import run_record

    run_record.record_resolution(args, info)
    run_record.save_args(args)


def _merged(args: Any, adapters: list) -> str:
    """2. Each adapter loaded and merged by the tuner that made it; the full model written atomically."""
    model, processor, _ = _load_and_record(args)
    for path in adapters:
        model = apply_adapters(model, [path], args, merge=True)
    output_dir = save_model_folder(
        model,
        processor,
        args.output_dir,
        max_shard_size=args.get("max_shard_size") or "5GB",
        safe_serialization=bool(args.get("safe_serialization", True)),
    )
    print(f"[swiftk] merged model saved to {output_dir}")
    return output_dir


def _quantized(args: Any, quantize: Callable[..., Any], adapters: list) -> str:
    """3. The quantizer's export on the full-precision folder (adapters merged first, in a temporary folder)."""
    output_dir = os.path.abspath(args.output_dir)
    with tempfile.TemporaryDirectory(prefix=".merged-", dir=os.path.dirname(output_dir)) as tmp:
        if adapters:
            model, processor, _ = _load_and_record(args)
            model = apply_adapters(model, adapters, args, merge=True)
            source = os.path.join(tmp, "model")
            _save_pretrained(model, processor, source)
            del model
            print(f"[swiftk] --adapters merged into {args.model} before quantizing")
        else:
            from swiftk.pipelines.model import resolve_model

            info = resolve_model(args)
            _record(args, info)
            source = info.model_dir

        def fill(staging: str) -> None:
            quantize(args, source, staging)
            if not os.path.isfile(os.path.join(staging, "config.json")):
                raise UsageError(
                    f"--quant_method {args.quant_method}: the quantizer wrote no config.json into the output folder"
                )
            for name in _SUPPORT_FILES:
                if os.path.isfile(os.path.join(source, name)) and not os.path.exists(os.path.join(staging, name)):
                    shutil.copy2(os.path.join(source, name), os.path.join(staging, name))
            _record_written_dtype(args, staging)

        _write_folder(output_dir, fill)
    bits = f" int{args.quant_bits}" if args.get("quant_bits") else ""
    print(f"[swiftk] {args.quant_method}{bits} model saved to {output_dir}")
    return output_dir


def _record_written_dtype(args: Any, folder: str) -> None:
    """args.json names the dtype the quantizer wrote (GPTQModel writes bfloat16 on CPU), not the source's:
    the commands reading the folder load it so."""
    from swiftk import run_record

    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    dtype = config.get("dtype") or config.get("torch_dtype")
    if isinstance(dtype, str) and dtype in ("float16", "bfloat16", "float32"):
        run_record.record_torch_dtype(args, dtype)
        run_record.save_args(args)


def _model_folder(args: Any) -> str:
    from swiftk.pipelines.model import resolve_model

    return resolve_model(args).model_dir


def upload(folder: str, args: Any) -> str:
    """``--push_to_hub``: the folder to ``--hub_model_id`` through the plugin answering ``upload_model``."""
    from swiftk.errors import MissingPluginError
    from swiftk.hints import MODEL_DOWNLOAD_PROVIDER as provider
    from swiftk.host import get_host

    url = get_host().hook.upload_model(folder=folder, args=args)
    if url is None:
        raise MissingPluginError(
            f"--push_to_hub: uploading needs a plugin implementing the upload_model hook: pip install {provider}",
            provider,
        )
    print(f"[swiftk] {folder} pushed to {url}")
    return url


# --- which tuner saved a checkpoint, and loading it ------------------------------------------------


def saved_train_type(adapter_dir: str) -> Optional[str]:
    """The ``train_type`` a checkpoint folder was saved by, or None when it does not say."""
    native = os.path.join(adapter_dir, _NATIVE_CONFIG)
    if os.path.isfile(native):
        with open(native, encoding="utf-8") as f:
            return json.load(f).get("train_type")
    from swiftk.arguments.load_args import saved_args_files

    for args_json in saved_args_files(adapter_dir):
        try:
            with open(args_json, encoding="utf-8") as f:
                train_type = json.load(f).get("train_type")
        except (OSError, ValueError):
            train_type = None
        if train_type:
            return train_type
    if os.path.isfile(os.path.join(adapter_dir, "adapter_config.json")):
        return "lora"  # any peft adapter: peft's loader reads its type from adapter_config.json
    return None


def tuner_of(adapter_dir: str) -> tuple[str, Any]:
    """``(train_type, TunerSpec)`` of a checkpoint folder, or a clear error."""
    from swiftk.host import get_host

    if not os.path.isdir(adapter_dir):
        raise UsageError(f"--adapters: no such folder: {adapter_dir}")
    train_type = saved_train_type(adapter_dir)
    if train_type is None:
        raise UsageError(
            f"--adapters: {adapter_dir} is not a tuner checkpoint (no adapter_config.json, "
            f"{_NATIVE_CONFIG} or args.json naming its train_type)"
        )
    spec = get_host().get("tuners", train_type)
    if getattr(spec, "full_parameter", False):
        raise UsageError(
            f"--adapters: {adapter_dir} is a full-parameter checkpoint (train_type {train_type}), not "
            f"an adapter: pass it as --model"
        )
    if spec.load is None:
        raise UsageError(
            f"--adapters: train_type {train_type} registered no load function, so its checkpoint "
            f"{adapter_dir} cannot be loaded"
        )
    return train_type, spec


def apply_adapters(model: Any, adapters: list, args: Any = None, merge: bool = False) -> Any:
    """Load each checkpoint onto ``model`` with the tuner that saved it; merge each if asked."""
    for path in adapters:
        train_type, spec = tuner_of(path)
        model = load_reference(spec.load)(model, path, args)
        if merge:
            model = merge_tuned(model, train_type, spec)
    return model


def merge_tuned(model: Any, train_type: str, spec: Any = None) -> Any:
    """Fold a loaded tuner into the base weights through its ``TunerSpec.merge``."""
    if spec is None:
        from swiftk.host import get_host

        spec = get_host().get("tuners", train_type)
    if spec.merge is None:
        raise UsageError(
            f"--merge_lora: train_type {train_type} cannot be merged into the base weights (its "
            f"modules are not a weight update); use the checkpoint with --adapters instead"
        )
    return load_reference(spec.merge)(model)


# --- writing the merged model -------------------------------------------------------------------------


def check_output_dir(output_dir: Optional[str], exist_ok: bool) -> None:
    if not output_dir:
        raise UsageError("--output_dir is required (it defaults to '<adapter>-merged' when --adapters is given)")
    if os.path.isdir(output_dir) and not exist_ok:
        present = sorted(set(os.listdir(output_dir)) - {RUN_LOCK})  # a lock alone: an ended (or this) run's
        if present:
            raise UsageError(
                f"--output_dir {output_dir} already holds files ({', '.join(present[:3])}); pass "
                f"--exist_ok true to replace them or choose another --output_dir"
            )
    elif os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError(f"--output_dir {output_dir} is a file, not a folder")


def save_model_folder(
    model: Any, processor: Any, output_dir: str, *, max_shard_size: Any = "5GB", safe_serialization: bool = True
) -> str:
    """Write a loadable model folder (config, sharded weights, processor, generation config) atomically
    (:func:`_write_folder`)."""
    return _write_folder(
        output_dir, lambda staging: _save_pretrained(model, processor, staging, max_shard_size, safe_serialization)
    )


def _write_folder(output_dir: str, fill: Callable[[str], None]) -> str:
    """``fill(staging)`` writes the folder into ``<output_dir>.staging``, which then replaces
    ``output_dir``; ``args.json`` already in ``output_dir`` (the command's own) is kept.  A failure
    leaves ``output_dir`` as it was."""
    output_dir = os.path.abspath(output_dir)
    staging = output_dir.rstrip("/\\") + ".staging"
    if os.path.exists(staging):
        shutil.rmtree(staging)
    os.makedirs(staging)
    try:
        fill(staging)
        for name in _KEEP_IN_OUTPUT:
            src = os.path.join(output_dir, name)
            if os.path.isfile(src):
                shutil.copy2(src, os.path.join(staging, name))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    old = output_dir.rstrip("/\\") + ".old"
    if os.path.exists(old):
        shutil.rmtree(old)
    if os.path.exists(output_dir):
        os.rename(output_dir, old)
    os.rename(staging, output_dir)
    shutil.rmtree(old, ignore_errors=True)
    renew_run_lock(output_dir)
    return output_dir


def _save_pretrained(
    model: Any, processor: Any, folder: str, max_shard_size: Any = "5GB", safe_serialization: bool = True
) -> None:
    model = getattr(model, "module", model)
    if safe_serialization:
        model.save_pretrained(folder, max_shard_size=max_shard_size)
    else:
        _save_bin(model, folder, max_shard_size)
    if processor is not None:
        processor.save_pretrained(folder)


def _save_bin(model: Any, folder: str, max_shard_size: Any) -> None:
    """``--safe_serialization false``: ``pytorch_model*.bin`` shards and their index."""
    import torch
    from huggingface_hub import split_torch_state_dict_into_shards

    model.config.save_pretrained(folder)
    generation = getattr(model, "generation_config", None)
    if generation is not None:
        generation.save_pretrained(folder)
    state, seen = {}, set()
    for key, tensor in model.state_dict().items():
        ptr = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if ptr in seen:  # a tied weight: transformers ties it again when loading
            continue
        seen.add(ptr)
        state[key] = tensor.detach().to("cpu").contiguous()
    split = split_torch_state_dict_into_shards(
        state, filename_pattern="pytorch_model{suffix}.bin", max_shard_size=max_shard_size
    )
    for filename, keys in split.filename_to_tensors.items():
        torch.save({k: state[k] for k in keys}, os.path.join(folder, filename))
    if split.is_sharded:
        index = {
            "metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
            "weight_map": split.tensor_to_filename,
        }
        with open(os.path.join(folder, "pytorch_model.bin.index.json"), "w", encoding="utf-8") as f:
            json.dump(index, f, indent=2)
