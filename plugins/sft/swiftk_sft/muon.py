"""``--optimizer muon`` (later ms-swift): Muon for the hidden weight matrices, AdamW for the rest.

As ms-swift (Moonlight's recipe): parameters with two or more dimensions, other than the embeddings and the output
head, are updated by Muon (momentum, then Newton-Schulz orthogonalisation, the step scaled to match AdamW's RMS; torch's Muon takes 2-D
matrices only, so stacked experts' 3-D weights and convolutions go to AdamW);
every other trainable parameter by AdamW with the run's betas and epsilon. Both use ``--learning_rate`` and
``--weight_decay`` and follow the Trainer's schedule. torch's own ``torch.optim.Muon`` does the Muon part;
``--optim_args "ns_steps=5,momentum=0.95"`` passes its options.
"""

from __future__ import annotations

from typing import Any

import torch

from swiftk.api import UsageError

_MUON_OPTIONS = {"momentum": float, "nesterov": lambda v: str(v).lower() == "true", "ns_steps": int, "eps": float}


class MuonWithAdamW(torch.optim.Optimizer):
    """One optimizer (what the Trainer, its scheduler and checkpoints expect) over two: its ``param_groups`` are
    the inner optimizers' own group dicts, so the schedule's learning rates reach both."""

    def __init__(self, muon_params: list, adamw_params: list, *, lr: float, weight_decay: float, betas: tuple,
                 eps: float, **muon_options: Any):  # fmt: skip
        groups = [{"params": p} for p in (muon_params, adamw_params) if p]
        super().__init__(groups, {"lr": lr, "weight_decay": weight_decay})
        self.muon = (
            torch.optim.Muon(
                muon_params, lr=lr, weight_decay=weight_decay, adjust_lr_fn="match_rms_adamw", **muon_options
            )  # fmt: skip
            if muon_params
            else None
        )
        self.adamw = (
            torch.optim.AdamW(adamw_params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
            if adamw_params
            else None
        )
        self.param_groups = [g for o in self._inner() for g in o.param_groups]

    def _inner(self) -> list:
        return [o for o in (self.muon, self.adamw) if o is not None]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for optimizer in self._inner():
            optimizer.step()
        return loss

    def state_dict(self) -> dict:
        return {"muon": self.muon and self.muon.state_dict(), "adamw": self.adamw and self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        for name in ("muon", "adamw"):
            inner = getattr(self, name)
            if inner is not None and state_dict.get(name) is not None:
                inner.load_state_dict(state_dict[name])
        self.param_groups = [g for o in self._inner() for g in o.param_groups]


def split_parameters(model: Any) -> tuple[list, list]:
    """(Muon's, AdamW's): trainable matrices outside the embeddings and the output head go to Muon."""
    embeddings = (
        {id(p) for p in model.get_input_embeddings().parameters()} if hasattr(model, "get_input_embeddings") else set()
    )
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    muon, adamw = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_matrix = param.ndim == 2 and id(param) not in embeddings | head_ids  # Muon takes 2-D only (experts: 3-D)
        is_matrix = is_matrix and "embed_tokens" not in name and "lm_head" not in name
        (muon if is_matrix else adamw).append(param)
    return muon, adamw


def optim_options(value: Any) -> dict:
    """``--optim_args "ns_steps=5,momentum=0.95"`` as Muon's keyword arguments."""
    options = {}
    for item in str(value or "").replace(" ", "").split(","):
        if not item:
            continue
        key, sep, raw = item.partition("=")
        if not sep or key not in _MUON_OPTIONS:
            raise UsageError(
                f"--optim_args {value!r}: '{item}' is not a Muon option; give key=value pairs of "
                f"{', '.join(_MUON_OPTIONS)}"
            )
        try:
            options[key] = _MUON_OPTIONS[key](raw)
        except ValueError:
            raise UsageError(f"--optim_args: {key}={raw} is not a valid value") from None
    return options


def create_muon_optimizer(args: Any, model: Any, dataset: Any = None) -> tuple[Any, Any]:
    for flag in ("deepspeed", "fsdp"):
        if args.get(flag):
            raise UsageError(
                f"--optimizer muon with --{flag}: the sharded optimizer sees flat 1-D partitions, and Muon "
                f"orthogonalises whole matrices; train with DDP (NPROC_PER_NODE) or use the default optimizer"
            )
    muon, adamw = split_parameters(model)
    if not muon:
        raise UsageError(
            "--optimizer muon: no trainable weight matrix outside the embeddings and the head (Muon updates "
            "matrices); train them (e.g. --train_type full or lora) or use the default optimizer"
        )
    optimizer = MuonWithAdamW(
        muon,
        adamw,
        lr=float(args.learning_rate),
        weight_decay=float(args.get("weight_decay") or 0.0),
        betas=(float(args.get("adam_beta1") or 0.9), float(args.get("adam_beta2") or 0.999)),
        eps=float(args.get("adam_epsilon") or 1e-8),
        **optim_options(args.get("optim_args")),
    )
    print(f"[swiftk] muon: {len(muon)} matrices by Muon, {len(adamw)} other tensors by AdamW", flush=True)
    return optimizer, None
