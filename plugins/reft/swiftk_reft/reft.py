"""``--train_type reft``: interventions on the outputs of transformer blocks, at every position.

Each block in ``--reft_layers`` (all when unset) gets an intervention (``--reft_intervention_type``,
rank ``--reft_rank``, extras ``--reft_args``) as a submodule ``swiftk_reft`` and a forward hook that
passes the block's output hidden states through it.  Only the interventions train.

Checkpoints (what the Trainer's ``save_pretrained`` call writes) hold only the interventions, as
``model.safetensors`` (so ``--resume_from_checkpoint`` works) beside ``swiftk_tuner.json``.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

from swiftk.api import UsageError

ATTR = "swiftk_reft"
TUNER_CONFIG = "swiftk_tuner.json"
WEIGHTS = "model.safetensors"


def _decoder_layers(model: Any) -> tuple[str, Any]:
    import torch.nn as nn

    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) and "vision" not in name and "visual" not in name:
            first = module[0]
            if any(hasattr(first, a) for a in ("self_attn", "attention", "attn", "self_attention")):
                return name, module
    raise UsageError(f"--train_type reft: {type(model).__name__} has no list of transformer blocks to intervene on")


def _hook(module: Any, inputs: Any, output: Any) -> Any:
    intervention = getattr(module, ATTR)
    if isinstance(output, tuple):
        return (intervention(output[0]),) + tuple(output[1:])
    if hasattr(output, "last_hidden_state"):  # a ModelOutput
        output.last_hidden_state = intervention(output.last_hidden_state)
        return output
    return intervention(output)


def _parse_args(value: Any) -> dict:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise UsageError(
                f"--reft_args must be a JSON object such as '{{\"dropout\": 0.05}}', got {value!r}"
            ) from None
    if not isinstance(value, dict):
        raise UsageError(f"--reft_args must be a JSON object such as '{{\"dropout\": 0.05}}', got {value!r}")
    return dict(value)


def config_from_args(model: Any, args: Any) -> dict:
    _, layers = _decoder_layers(model)
    chosen = args.get("reft_layers")
    if chosen is None or chosen == []:
        chosen = list(range(len(layers)))
    chosen = [int(i) for i in chosen]
    bad = [i for i in chosen if not 0 <= i < len(layers)]
    if bad:
        raise UsageError(f"--reft_layers {' '.join(map(str, bad))}: the model has layers 0 to {len(layers) - 1}")
    return {
        "layers": sorted(set(chosen)),
        "rank": int(args.get("reft_rank") or 4),
        "intervention_type": args.get("reft_intervention_type") or "LoreftIntervention",
        "args": _parse_args(args.get("reft_args")),
    }


def add_interventions(model: Any, config: dict) -> Any:
    from swiftk_reft.interventions import make

    _, layers = _decoder_layers(model)
    param = next(model.parameters())
    hidden = model.config.get_text_config().hidden_size
    for i in config["layers"]:
        if hasattr(layers[i], ATTR):
            raise UsageError("--train_type reft: the model already has ReFT interventions")
        intervention = make(config["intervention_type"], hidden, config["rank"], config["args"])
        layers[i].add_module(ATTR, intervention.to(device=param.device, dtype=param.dtype))
        layers[i].register_forward_hook(_hook)
    _attach_save(model, config)
    return model


def _freeze_all_but_interventions(model: Any) -> None:
    for name, param in model.named_parameters():
        param.requires_grad_(f".{ATTR}." in name)


def _report(model: Any) -> None:
    from swiftk.api import parameter_counts

    trainable, total = parameter_counts(model)
    print(
        f"[swiftk] reft: trainable params: {trainable:,d} || all params: {total:,d} || "
        f"trainable%: {100 * trainable / max(total, 1):.4f}",
        flush=True,
    )


def prepare_reft(model: Any, args: Any) -> Any:
    if args.get("adapters"):
        model = load_reft(model, args.adapters[0], args)
    else:
        add_interventions(model, config_from_args(model, args))
    _freeze_all_but_interventions(model)
    _report(model)
    return model


# --- checkpoints ---------------------------------------------------------------------------------


def _attach_save(model: Any, config: dict) -> None:
    def save_pretrained(
        save_directory: str, state_dict: Optional[dict] = None, is_main_process: bool = True, **_: Any
    ) -> None:
        if not is_main_process:
            return
        from safetensors.torch import save_file

        from swiftk.api import atomic_write_text

        state = state_dict if state_dict is not None else model.state_dict()
        tensors = {k: v.detach().to("cpu").clone().contiguous() for k, v in state.items() if f".{ATTR}." in k}
        os.makedirs(save_directory, exist_ok=True)
        save_file(tensors, os.path.join(save_directory, WEIGHTS), metadata={"format": "pt"})
        atomic_write_text(
            os.path.join(save_directory, TUNER_CONFIG),
            json.dumps({"train_type": "reft", "config": config}, indent=2) + "\n",
        )

    model.save_pretrained = save_pretrained


def load_reft(model: Any, adapter_dir: str, args: Any = None) -> Any:
    from safetensors.torch import load_file

    path = os.path.join(adapter_dir, TUNER_CONFIG)
    if not os.path.isfile(path):
        raise UsageError(f"--adapters: {adapter_dir} is not a reft checkpoint (no {TUNER_CONFIG})")
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    if saved.get("train_type") != "reft":
        raise UsageError(f"--adapters: {adapter_dir} holds a {saved.get('train_type')} checkpoint, not reft")
    add_interventions(model, saved["config"])
    result = model.load_state_dict(load_file(os.path.join(adapter_dir, WEIGHTS)), strict=False)
    if result.unexpected_keys:
        raise UsageError(f"--adapters: {adapter_dir} does not fit this model (e.g. {result.unexpected_keys[0]})")
    missing = [k for k in result.missing_keys if f".{ATTR}." in k]
    if missing:
        raise UsageError(f"--adapters: {adapter_dir} lacks intervention weights (e.g. {missing[0]})")
    return model
