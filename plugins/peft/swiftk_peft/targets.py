"""Which modules a tuner attaches to: ``all-linear``, explicit names, or ``--target_regex``."""
from __future__ import annotations

from typing import Any

from swiftk.errors import UsageError

#: Module name parts that ``all-linear`` never includes: the output head and, unless asked, vision towers.
_EXCLUDED = ("lm_head", "score", "classifier", "output_layer")
_VISION = ("visual", "vision_tower", "vision_model", "vit", "image_encoder")


def linear_module_names(model: Any, include_vision: bool = False) -> list[str]:
    """Leaf names (``q_proj``, ``down_proj``, ...) of the model's linear layers, excluding the head."""
    import torch.nn as nn

    names = set()
    for full, module in model.named_modules():
        if not isinstance(module, nn.Linear) and type(module).__name__ not in ("Linear8bitLt", "Linear4bit"):
            continue
        parts = full.split(".")
        if parts[-1] in _EXCLUDED or (not include_vision and any(p in _VISION for p in parts)):
            continue
        names.add(parts[-1])
    return sorted(names)


def resolve_target_modules(model: Any, args: Any) -> Any:
    """What peft's ``target_modules`` should be for these arguments."""
    if args.get("target_regex"):
        return args.target_regex
    wanted = list(args.get("target_modules") or ["all-linear"])
    linear = linear_module_names(model, include_vision=not args.get("freeze_vit", True))
    out: list[str] = []
    for name in wanted:
        if name == "all-linear":
            out += linear
        else:
            out.append(name)
    names = {full.split(".")[-1] for full, _ in model.named_modules()}
    missing = [n for n in out if n not in names and not any(f.endswith(n) for f, _ in model.named_modules())]
    if missing:
        raise UsageError(f"--target_modules: {', '.join(missing)} match no module of the model; its linear "
                         f"modules are {', '.join(linear) or 'none'}")
    if not out:
        raise UsageError("--target_modules matched nothing: the model has no linear module outside the head")
    return sorted(set(out))
