"""``swiftk export`` and ``swiftk merge-lora``: merge a tuner checkpoint into its base model.

Read top to bottom (:func:`run`):

1. the options this pipeline does not implement are refused or handed on: ``--quant_method`` goes to
   the plugin that registered it in the ``quantizers`` registry (its ``export(args)``), a missing one
   names its distribution; ``--push_to_hub`` is not part of this pipeline;
2. the base model named by the adapter's ``args.json`` (``--load_args``, done while parsing) is loaded;
3. each ``--adapters`` checkpoint is applied by the tuner that saved it (:func:`apply_adapters`) and
   merged by that tuner's ``TunerSpec.merge`` (a clear error for tuners that cannot merge);
4. the full model is written to ``--output_dir`` (``<adapter>-merged`` by default): config, weights
   sharded by ``--max_shard_size`` (safetensors, or ``.bin`` with ``--safe_serialization false``),
   tokenizer/processor, generation config, and the export's ``args.json``; into a staging folder
   first, renamed into place only when complete.

:func:`saved_train_type` and :func:`apply_adapters` are also what ``swiftk infer --adapters`` uses:
a checkpoint says which tuner made it (``swiftk_tuner.json``, else the ``train_type`` of its
``args.json``, else a peft ``adapter_config.json`` means peft), and that tuner's ``load`` restores it.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any, Optional

from swiftk.errors import UsageError

_NATIVE_CONFIG = "swiftk_tuner.json"
_KEEP_IN_OUTPUT = {"args.json"}


def run(args: Any) -> int:
    from swiftk.host import get_host

    host = get_host()
    # 1. what this pipeline does not do itself
    quant_method = args.get("quant_method")
    if quant_method:
        quantizer = host.registry("quantizers").get(quant_method)  # unknown: names the distribution to install
        export = getattr(quantizer, "export", None)
        if not callable(export):
            entry = host.registry("quantizers").entry(quant_method)
            raise UsageError(
                f"--quant_method {quant_method}: plugin '{entry.plugin}' registered it without an "
                f"export(args) function, so swiftk export cannot quantize with it"
            )
        return int(export(args) or 0)
    if args.get("push_to_hub"):
        raise UsageError(
            "--push_to_hub: pushing to a hub is not part of swiftk's built-in export; merge with "
            "--merge_lora true, then upload the folder with the hub's own client"
        )
    if not args.get("merge_lora"):
        raise UsageError(
            f"swiftk {args.command}: nothing to do; pass --merge_lora true with --adapters CHECKPOINT "
            f"(or --quant_method with a quantization plugin)"
        )
    adapters = list(args.get("adapters") or [])
    if not adapters:
        raise UsageError("--merge_lora needs --adapters: the checkpoint folder(s) to merge into the base model")
    tuners = [tuner_of(path) for path in adapters]  # before loading anything: unknown or unmergeable tuners
    for train_type, spec in tuners:
        if spec.merge is None:
            merge_tuned(None, train_type, spec)
    output_dir = args.get("output_dir")
    check_output_dir(output_dir, bool(args.get("exist_ok")))

    # 2. the base model (model, template and dtype come from the adapter's args.json)
    from swiftk import run_record
    from swiftk.pipelines.model import load_model_and_processor, template_name

    model, processor, info = load_model_and_processor(args)
    run_record.record_model(args, info)
    run_record.record_template(args, None, template_name(args, info))
    run_record.record_plugins(args)
    run_record.save_args(args)  # the merged folder's args.json names the same model type and template

    # 3. each adapter, loaded and merged by the tuner that made it
    for path in adapters:
        model = apply_adapters(model, [path], args, merge=True)

    # 4. the full model folder, written atomically
    save_model_folder(
        model,
        processor,
        output_dir,
        max_shard_size=args.get("max_shard_size") or "5GB",
        safe_serialization=bool(args.get("safe_serialization", True)),
    )
    print(f"[swiftk] merged model saved to {output_dir}")
    return 0


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


def _ref(value: Any) -> Any:
    from swiftk.registry import load_reference

    return load_reference(value)


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
        model = _ref(spec.load)(model, path, args)
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
    return _ref(spec.merge)(model)


# --- writing the merged model -------------------------------------------------------------------------


def check_output_dir(output_dir: Optional[str], exist_ok: bool) -> None:
    if not output_dir:
        raise UsageError("--output_dir is required (it defaults to '<adapter>-merged' when --adapters is given)")
    if os.path.isdir(output_dir) and not exist_ok:
        from swiftk.io import RUN_LOCK

        present = sorted(set(os.listdir(output_dir)) - _KEEP_IN_OUTPUT - {RUN_LOCK})  # the lock is this run's
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
    """Write a loadable model folder (config, sharded weights, processor, generation config) atomically:
    into ``<output_dir>.staging`` first, then swapped into place.  ``args.json`` already in
    ``output_dir`` (the command's own) is kept."""
    output_dir = os.path.abspath(output_dir)
    staging = output_dir.rstrip("/\\") + ".staging"
    if os.path.exists(staging):
        shutil.rmtree(staging)
    os.makedirs(staging)
    try:
        model = getattr(model, "module", model)
        if safe_serialization:
            model.save_pretrained(staging, max_shard_size=max_shard_size)
        else:
            _save_bin(model, staging, max_shard_size)
        if processor is not None:
            processor.save_pretrained(staging)
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
    return output_dir


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
