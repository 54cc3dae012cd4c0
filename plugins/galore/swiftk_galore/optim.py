"""``--optimizer galore`` (selected by ``--use_galore true``): GaLore and Q-GaLore.

The weights of the targeted linear layers (``--galore_target_modules``, names matched as substrings
of module names; by default every linear layer but the head, plus the embedding with
``--galore_with_embedding``) get GaLore: their gradients are projected to rank ``--galore_rank``
(``--galore_proj_type``, re-computed every ``--galore_update_proj_gap`` steps, scaled by
``--galore_scale``) and the optimizer state lives in that low-rank space; every other trainable
parameter gets the plain optimizer.  The optimizer follows ``--optim``: AdamW (default), Adafactor,
or 8-bit AdamW (bitsandbytes, CUDA).  ``--galore_optim_per_parameter true`` gives each parameter its
own optimizer stepped from a gradient hook (layer-wise GaLore, which saves the gradient memory); with
``--gradient_accumulation_steps`` the hook steps only on the backward that ends an accumulation window
(accelerate's ``sync_gradients``, which the Trainer sets per micro-batch), the gradients adding up until then.

``--galore_quantization true`` is Q-GaLore (Zhang et al. 2024): q-galore-torch's projector, whose
projection matrices are quantized to ``--galore_proj_bits`` bits in groups of
``--galore_proj_group_size`` with ``--galore_proj_quant``, and whose update gap grows by
``--galore_gamma_proj`` once the last ``--galore_queue_size`` projections agree (cosine similarity
above ``--galore_cos_threshold``).  q-galore-torch's own 8-bit optimizer does not run with the
current bitsandbytes (and needs CUDA), so the projector is plugged into galore-torch's AdamW
(8-bit AdamW on CUDA with an 8-bit ``--optim``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from swiftk.api import UsageError

_PROJ_TYPES = ("std", "reverse_std", "right", "left", "full")


def check_args(args: Any) -> None:
    """Fail fast (before any model loads) on settings GaLore cannot run with."""
    if importlib.util.find_spec("galore_torch") is None:
        raise UsageError("--use_galore needs the galore-torch package: pip install galore-torch")
    proj_type = args.get("galore_proj_type") or "std"
    if proj_type not in _PROJ_TYPES:
        raise UsageError(f"--galore_proj_type {proj_type}: valid: {', '.join(_PROJ_TYPES)}")
    if args.get("galore_quantization"):
        if importlib.util.find_spec("q_galore_torch") is None:
            raise UsageError(
                "--galore_quantization (Q-GaLore) needs the q-galore-torch package: pip install q-galore-torch"
            )
        if proj_type != "std":
            raise UsageError(f"--galore_proj_type {proj_type}: Q-GaLore (--galore_quantization true) supports only std")
        if args.get("galore_optim_per_parameter"):
            raise UsageError("--galore_optim_per_parameter: not available with --galore_quantization (Q-GaLore)")
    optim = str(args.get("optim") or "adamw_torch")
    if not _optimizer_kind(optim):
        raise UsageError(
            f"--optim {optim}: GaLore works with adamw_torch / adamw_torch_fused (AdamW), adafactor, "
            f"or an 8-bit AdamW (adamw_bnb_8bit)"
        )


def _optimizer_kind(optim: str) -> str:
    if optim == "adafactor":
        return "adafactor"
    if "adamw" in optim and "8bit" in optim:
        return "adamw8bit"
    if optim in ("adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw"):
        return "adamw"
    return ""


def galore_parameters(model: Any, args: Any) -> list:
    """(name, weight) of the modules GaLore applies to."""
    import torch.nn as nn

    targets = list(args.get("galore_target_modules") or [])
    if not targets:
        targets = sorted(
            {
                n.split(".")[-1]
                for n, m in model.named_modules()
                if isinstance(m, nn.Linear) and n.split(".")[-1] not in ("lm_head", "score", "classifier")
            }
        )
    kinds: tuple = (nn.Linear,)
    if args.get("galore_with_embedding"):
        kinds = (nn.Linear, nn.Embedding)
        embed = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
        targets += [n.split(".")[-1] for n, m in model.named_modules() if m is embed]
    out, seen = [], set()
    for name, module in model.named_modules():
        if not isinstance(module, kinds) or not any(t in name for t in targets):
            continue
        if name.split(".")[-1] in ("lm_head", "score", "classifier") and not isinstance(module, nn.Embedding):
            continue
        weight = module.weight
        if weight.requires_grad and weight.dim() == 2 and id(weight) not in seen:
            seen.add(id(weight))
            out.append((name, weight))
    if not out:
        raise UsageError(f"--galore_target_modules {' '.join(targets)}: matches no trainable linear layer of the model")
    return out


def _optimizer_class(args: Any, quantized: bool) -> tuple[type, dict]:
    import torch

    kind = _optimizer_kind(str(args.get("optim") or "adamw_torch"))
    lr = float(args.learning_rate)
    adam = {
        "betas": (float(args.get("adam_beta1") or 0.9), float(args.get("adam_beta2") or 0.999)),
        "eps": float(args.get("adam_epsilon") or 1e-8),
    }
    if kind == "adafactor":
        if quantized:
            raise UsageError("--optim adafactor: Q-GaLore (--galore_quantization true) works with AdamW")
        from galore_torch import GaLoreAdafactor

        return GaLoreAdafactor, {"lr": lr, "scale_parameter": False, "relative_step": False}
    if kind == "adamw8bit":
        if not torch.cuda.is_available():
            raise UsageError(
                f"--optim {args.get('optim')}: 8-bit GaLore AdamW needs a CUDA GPU (bitsandbytes); "
                f"use --optim adamw_torch on CPU"
            )
        if quantized:
            from swiftk_galore.qgalore import QGaLoreAdamW8bit

            return QGaLoreAdamW8bit, {"lr": lr, **adam}
        from galore_torch import GaLoreAdamW8bit

        return GaLoreAdamW8bit, {"lr": lr, **adam}
    if quantized:
        from swiftk_galore.qgalore import QGaLoreAdamW

        return QGaLoreAdamW, {"lr": lr, **adam}
    from galore_torch import GaLoreAdamW

    return GaLoreAdamW, {"lr": lr, **adam}


def create_galore_optimizer(args: Any, model: Any, dataset: Any = None) -> tuple[Any, Any]:
    """``factory(args, model, dataset) -> (optimizer, None)``: the Trainer makes the LR schedule."""
    from transformers import Trainer

    check_args(args)
    quantized = bool(args.get("galore_quantization"))
    galore = galore_parameters(model, args)
    galore_ids = {id(p) for _, p in galore}
    settings = {
        "rank": int(args.galore_rank),
        "update_proj_gap": int(args.galore_update_proj_gap),
        "scale": float(args.galore_scale),
        "proj_type": args.get("galore_proj_type") or "std",
    }
    if quantized:
        settings.update(
            quant=bool(args.get("galore_proj_quant")),
            quant_n_bit=int(args.galore_proj_bits),
            quant_group_size=int(args.galore_proj_group_size),
            cos_threshold=float(args.galore_cos_threshold),
            gamma_proj=int(args.galore_gamma_proj),
            queue_size=int(args.galore_queue_size),
        )
    cls, kwargs = _optimizer_class(args, quantized)
    weight_decay = float(args.get("weight_decay") or 0.0)
    decay_names = set(Trainer.get_decay_parameter_names(None, model))
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    _report(model, len(galore), sum(p.numel() for _, p in galore))
    if args.get("galore_optim_per_parameter"):
        return _layerwise(cls, kwargs, trainable, galore_ids, settings, decay_names, weight_decay), None
    groups = [
        {"params": [p for _, p in galore], "weight_decay": weight_decay, **settings},
        {
            "params": [p for n, p in trainable if id(p) not in galore_ids and n in decay_names],
            "weight_decay": weight_decay,
        },
        {"params": [p for n, p in trainable if id(p) not in galore_ids and n not in decay_names], "weight_decay": 0.0},
    ]
    return cls([g for g in groups if g["params"]], **kwargs), None


def _layerwise(
    cls: type, kwargs: dict, trainable: list, galore_ids: set, settings: dict, decay_names: set, weight_decay: float
) -> Any:
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    optimizers = {}
    for name, param in trainable:
        if id(param) in optimizers:
            continue
        group = {"params": [param], "weight_decay": weight_decay if name in decay_names else 0.0}
        if id(param) in galore_ids:
            group.update(settings)
        optimizers[param] = cls([group], **kwargs)

    from accelerate.state import GradientState

    state = GradientState()  # shared: the Trainer marks the micro-batch that ends each accumulation window

    def step(param: Any) -> None:
        if param.grad is not None and state.sync_gradients:  # else the gradient accumulates in param.grad
            optimizers[param].step()
            optimizers[param].zero_grad()

    for param in optimizers:
        param.register_post_accumulate_grad_hook(step)
    return LayerWiseDummyOptimizer(optimizer_dict=optimizers, lr=kwargs["lr"])


def _report(model: Any, n_modules: int, n_params: int) -> None:
    from swiftk.api import parameter_counts

    trainable, total = parameter_counts(model)
    print(
        f"[swiftk] galore: trainable params: {trainable:,d} || all params: {total:,d} || "
        f"trainable%: {100 * trainable / max(total, 1):.4f} || GaLore on {n_modules} weights "
        f"({n_params:,d} params)",
        flush=True,
    )
