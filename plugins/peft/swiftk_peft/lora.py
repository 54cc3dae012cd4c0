"""``--train_type lora``: peft's LoRA with the page's lora_* arguments.

DoRA (``--use_dora``), rsLoRA (``--use_rslora``), LoRA+ (``--lorap_lr_ratio``: the ``lorap`` optimizer,
see :mod:`swiftk_peft.loraplus`), and ``--init_weights`` true / false / gaussian / pissa /
pissa_niter_<n> / olora / lora-ga (with every ``--lora_ga_*``).

PiSSA, OLoRA and LoRA-GA change the base weights when they initialise the adapter, so an adapter
saved as trained only fits those changed weights.  Every checkpoint of such a run therefore also
holds ``converted/default/``: the same update as a plain LoRA of twice the rank on the *original*
base weights (peft's conversion, ΔW = BA − B₀A₀).  Loading (``--adapters``, ``swiftk export``)
uses it; the top-level adapter is what ``--resume_from_checkpoint`` continues from.
"""

from __future__ import annotations

import copy
import os
import re
from typing import Any

from swiftk.api import UsageError
from swiftk_peft.common import report_trainable
from swiftk_peft.dropout import use_lora_dropout
from swiftk_peft.targets import resolve_target_modules

_DTYPES = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32"}
_INIT_HELP = "true, false, gaussian, pissa, pissa_niter_<n>, olora, lora-ga"
#: inits that change the base weights (their adapters are saved converted as well)
_MUTATING = ("pissa", "olora", "lora_ga")
#: ms-swift's --lora_ga_scale names -> peft's
_GA_SCALES = {"gd": "gd_scale", "unit": "unit", "stable": "stable", "weightS": "weight_svd"}
CONVERTED = os.path.join("converted", "default")


def init_lora_weights(value: Any) -> Any:
    """``--init_weights`` as peft's ``init_lora_weights``."""
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("gaussian", "pissa", "olora"):
        return low
    if low in ("lora-ga", "lora_ga"):
        return "lora_ga"
    if re.fullmatch(r"pissa_niter_\d+", low):
        return low
    raise UsageError(f"--init_weights {value}: not a LoRA init; valid: {_INIT_HELP}")


def lora_config(model: Any, args: Any, **overrides: Any):
    from peft import LoraConfig, TaskType

    init = init_lora_weights(args.get("init_weights", True))
    task = TaskType.SEQ_CLS if args.get("task_type") in ("seq_cls", "reranker") else TaskType.CAUSAL_LM
    kwargs: dict = dict(
        task_type=task,
        r=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        bias=args.lora_bias,
        target_modules=resolve_target_modules(model, args),
        modules_to_save=list(args.get("modules_to_save") or []) or None,
        use_dora=bool(args.get("use_dora")),
        use_rslora=bool(args.get("use_rslora")),
        init_lora_weights=init,
    )
    if init == "lora_ga":
        from peft import LoraGAConfig

        kwargs["lora_ga_config"] = LoraGAConfig(
            direction=args.get("lora_ga_direction") or "ArB2r",
            scale=_GA_SCALES.get(args.get("lora_ga_scale") or "stable", args.get("lora_ga_scale")),
            stable_gamma=int(args.get("lora_ga_stable_gamma") or 16),
        )
        if isinstance(kwargs["target_modules"], str):
            raise UsageError("--init_weights lora-ga needs module names, not --target_regex")
    kwargs.update(overrides)
    return LoraConfig(**kwargs)


def prepare_lora(model: Any, args: Any) -> Any:
    """Wrap ``model`` with fresh LoRA adapters (or continue from ``--adapters``)."""
    backend = args.get("tuner_backend") or "peft"
    if backend != "peft":  # another implementation of the same tuner, registered under the backend's name
        from swiftk.api import get_host, load_reference

        spec = get_host().get("tuners", backend)
        prepare = load_reference(spec.prepare)
        return prepare(model, args)
    adapters = args.get("adapters") or []
    if adapters:
        model = load_adapter(model, adapters[0], args, trainable=True)
        use_lora_dropout(model)
        report_trainable(model, "lora")
        return model
    config = lora_config(model, args)
    return wrap(model, config, args)


def wrap(model: Any, config: Any, args: Any, what: str = "lora") -> Any:
    """``get_peft_model`` with the page's extras: LoRA-GA's gradient estimate first, ``--lora_dtype``,
    converted saving for base-changing inits, the trainable-parameter line."""
    from peft import get_peft_model

    init = getattr(config, "init_lora_weights", True)
    if init == "lora_ga":
        _estimate_lora_ga_gradients(model, config, args)
    try:
        model = get_peft_model(model, config)
    except ValueError as exc:
        text = str(exc)
        if "init_lora_weights" in text or "init" in text.lower():
            raise UsageError(f"--init_weights {args.get('init_weights')}: {text.splitlines()[0]}") from None
        raise
    if args.get("lora_dtype"):
        import torch

        dtype = getattr(torch, _DTYPES[args.lora_dtype])
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(dtype)
    if isinstance(init, str) and init.startswith(_MUTATING):
        _save_converted_too(model)
    use_lora_dropout(model)
    report_trainable(model, what)
    return model


# --- LoRA-GA: gradients of a few batches before the adapter is made --------------------------------


def _estimate_lora_ga_gradients(model: Any, config: Any, args: Any) -> None:
    """peft's ``preprocess_loraga`` over ``--lora_ga_iters`` batches of ``--lora_ga_batch_size`` rows of the
    training data, each cut to ``--lora_ga_max_length`` tokens."""
    import torch
    from peft.tuners.lora.loraga import preprocess_loraga

    batches = _lora_ga_batches(model, args)
    device = next(model.parameters()).device

    def train_step() -> None:
        for batch in batches:
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            batch.pop("loss_scale", None)
            out = model(**batch)
            out.loss.backward()

    preprocess_loraga(model, config, train_step)


def _lora_ga_batches(model: Any, args: Any) -> list:
    from swiftk.api import encode_dataset, load_datasets, get_template, load_model_and_processor

    batch_size = int(args.get("lora_ga_batch_size") or 2)
    iters = int(args.get("lora_ga_iters") or 2)
    max_length = int(args.get("lora_ga_max_length") or 1024)
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="train")
    train, _ = load_datasets(args)
    if train is None or len(train) == 0:
        raise UsageError("--init_weights lora-ga needs training data (--dataset) to estimate gradients")
    rows = train.select(range(min(len(train), batch_size * iters)))
    encoded = encode_dataset(rows, template.encode, num_proc=1, lazy=False, strict=False)
    items = []
    for row in encoded:
        row = dict(row)
        for key in ("input_ids", "labels", "attention_mask", "loss_scale", "position_ids"):
            if isinstance(row.get(key), list):
                row[key] = row[key][:max_length]
        items.append(row)
    if not items:
        raise UsageError("--init_weights lora-ga: no training row could be encoded to estimate gradients")
    return [template.data_collator(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


# --- saving PiSSA / OLoRA / LoRA-GA adapters as plain LoRA too -------------------------------------


def _save_converted_too(model: Any) -> None:
    from peft import get_peft_model_state_dict

    initial = {
        k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items() if ".lora_A." in k or ".lora_B." in k
    }
    original_save = model.save_pretrained

    def save_pretrained(save_directory: str, *a: Any, **kw: Any) -> None:
        original_save(save_directory, *a, **kw)
        if kw.get("is_main_process", True):
            write_converted(model, initial, os.path.join(save_directory, CONVERTED))

    model.save_pretrained = save_pretrained


def write_converted(model: Any, initial: dict, folder: str) -> None:
    """The adapter as a plain LoRA on the original base weights: A' = [A; A₀], B' = [B, −B₀], rank 2r."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    state = get_peft_model_state_dict(model)
    out = {}
    for key, value in state.items():
        if key in initial and ".lora_A." in key:
            value = torch.cat([value, initial[key].to(value.dtype)], dim=0)
        elif key in initial and ".lora_B." in key:
            value = torch.cat([value, -initial[key].to(value.dtype)], dim=1)
        out[key] = value.detach().to("cpu").contiguous()
    config = copy.deepcopy(model.peft_config["default"])
    config.init_lora_weights = True
    config.lora_ga_config = None
    config.r *= 2
    config.lora_alpha = config.lora_alpha * (2**0.5 if config.use_rslora else 2)
    if config.rank_pattern:
        config.rank_pattern = {k: 2 * v for k, v in config.rank_pattern.items()}
    if config.alpha_pattern:
        config.alpha_pattern = {k: 2 * v for k, v in config.alpha_pattern.items()}
    config.inference_mode = True
    os.makedirs(folder, exist_ok=True)
    save_file(out, os.path.join(folder, "adapter_model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(folder)


# --- loading and merging (every peft tuner) -----------------------------------------------------------


def adapter_folder(adapter_dir: str) -> str:
    """The folder to load: the converted plain-LoRA form when the checkpoint has one."""
    converted = os.path.join(adapter_dir, CONVERTED)
    if os.path.isfile(os.path.join(converted, "adapter_config.json")):
        return converted
    return adapter_dir


def load_adapter(model: Any, adapter_dir: str, args: Any = None, trainable: bool = False) -> Any:
    """Load a saved peft adapter folder (LoRA, DoRA, AdaLoRA, VeRA, BOFT, FourierFT, ...) onto ``model``."""
    from peft import PeftModel

    folder = adapter_folder(adapter_dir)
    if not os.path.isfile(os.path.join(folder, "adapter_config.json")):
        raise UsageError(f"--adapters: {adapter_dir} has no adapter_config.json (not a peft adapter checkpoint)")
    return PeftModel.from_pretrained(model, folder, is_trainable=trainable)


def merge_adapter(model: Any) -> Any:
    """Fold the adapter into the base weights and return the plain model."""
    return model.merge_and_unload()
