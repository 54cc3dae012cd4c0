"""``--router_aux_loss_coef`` (later ms-swift; default 0): the weight of a mixture-of-experts model's
load-balancing loss in training.

As ms-swift: the coefficient replaces the checkpoint's own and the router's logits are returned (so transformers'
MoE models add ``coef * aux_loss`` to their loss) only when it is above 0. trl's preference and GRPO trainers
take the same value through their configs' ``router_aux_loss_coef`` (the kernel passes it by name). A model
without a router refuses a coefficient above 0.
"""

from __future__ import annotations

from typing import Any, Optional

from swiftk.api import UsageError


def configure(model: Any, args: Any) -> float:
    """Set the model's coefficient and router-logits switch from ``args``; the coefficient in force (0: off)."""
    if args is None or "router_aux_loss_coef" not in args:
        return 0.0
    coef = float(args.get("router_aux_loss_coef") or 0.0)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    text = config.get_text_config() if config is not None and hasattr(config, "get_text_config") else config
    if text is None or not hasattr(text, "output_router_logits"):
        if coef > 0:
            name = getattr(config, "model_type", type(base).__name__)
            raise UsageError(
                f"--router_aux_loss_coef {coef}: {name} has no experts' router (not a mixture-of-experts model); "
                f"leave it at 0"
            )
        return 0.0
    text.router_aux_loss_coef = coef
    text.output_router_logits = coef > 0
    for module in (base, getattr(base, "model", None)):
        if module is not None and hasattr(module, "router_aux_loss_coef"):
            module.router_aux_loss_coef = coef  # the causal-LM head keeps its own copy from the config
    return coef


def add_aux_loss(loss: Any, outputs: Any, coef: float, labels: Any, num_items_in_batch: Optional[Any]) -> Any:
    """``loss + coef * aux_loss`` for a loss computed outside the model (a registered --loss_type), weighted by
    this micro-batch's share of the accumulated tokens as ms-swift weights it."""
    aux = outputs.get("aux_loss") if isinstance(outputs, dict) else getattr(outputs, "aux_loss", None)
    if not coef or aux is None:
        return loss
    if num_items_in_batch is not None and labels is not None:
        aux = aux * ((labels[:, 1:] != -100).sum() / num_items_in_batch)
    return loss + coef * aux.to(loss.device)
