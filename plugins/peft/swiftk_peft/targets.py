"""Which modules a tuner attaches to: ``all-linear``, explicit names, or ``--target_regex``; and the
parts of a multimodal model (LLM, vision tower, aligner) that ``--freeze_llm/vit/aligner`` select.

``all-linear`` is every linear layer except the output head (``lm_head``, classification heads) and,
for multimodal models, only the parts not frozen: the LLM unless ``--freeze_llm true``, the vision
tower only with ``--freeze_vit false``, the aligner only with ``--freeze_aligner false``.  A model
plugin may name the parts exactly with ``ModelMeta.extra["model_arch"] = {"language_model": [...],
"vision_tower": [...], "aligner": [...]}`` (module-name prefixes); otherwise they are recognised by
the usual module names.
"""

from __future__ import annotations

from typing import Any, Optional

from swiftk.api import UsageError

#: Module name parts that ``all-linear`` never includes: the output head and classification heads.
_EXCLUDED = ("lm_head", "score", "classifier", "output_layer", "embed_out")
#: Vision/audio towers and aligners (projectors between a tower and the LLM), by module-name part.
_VISION = (
    "visual",
    "vision_tower",
    "vision_model",
    "vit",
    "image_encoder",
    "vpm",
    "audio_tower",
    "audio_model",
    "vision_encoder",
)
_ALIGNER = (
    "multi_modal_projector",
    "mm_projector",
    "merger",
    "aligner",
    "connector",
    "resampler",
    "mlp1",
    "vision_projection",
    "audio_projector",
)

PARTS = ("llm", "vision", "aligner")


def _arch_prefixes(model: Any) -> Optional[dict[str, list[str]]]:
    meta = getattr(model, "model_meta", None)
    arch = (getattr(meta, "extra", None) or {}).get("model_arch") if meta is not None else None
    if not isinstance(arch, dict):
        return None
    out = {
        "llm": arch.get("language_model") or [],
        "vision": arch.get("vision_tower") or [],
        "aligner": arch.get("aligner") or [],
    }
    return {k: [v] if isinstance(v, str) else list(v) for k, v in out.items()}


def part_of(name: str, prefixes: Optional[dict[str, list[str]]] = None) -> str:
    """``llm``, ``vision`` or ``aligner`` for a module or parameter name."""
    if prefixes:
        for part in ("aligner", "vision", "llm"):
            if any(name == p or name.startswith(p + ".") for p in prefixes.get(part, [])):
                return part
    parts = name.split(".")
    if any(p in _ALIGNER for p in parts):
        return "aligner"
    if any(p in _VISION for p in parts):
        return "vision"
    return "llm"


def selected_parts(args: Any) -> set[str]:
    """The parts of a multimodal model a tuner may touch, from ``--freeze_llm/vit/aligner``."""
    parts = set()
    if not args.get("freeze_llm", False):
        parts.add("llm")
    if not args.get("freeze_vit", True):
        parts.add("vision")
    if not args.get("freeze_aligner", True):
        parts.add("aligner")
    return parts


def _is_linear(module: Any) -> bool:
    import torch.nn as nn

    return isinstance(module, nn.Linear) or type(module).__name__ in ("Linear8bitLt", "Linear4bit", "HQQLinear")


def linear_modules(model: Any, parts: Optional[set[str]] = None) -> list[str]:
    """Full names of the linear layers in ``parts`` (all parts when None), the heads excluded."""
    prefixes = _arch_prefixes(model)
    out = []
    for full, module in model.named_modules():
        if not _is_linear(module):
            continue
        if full.split(".")[-1] in _EXCLUDED:
            continue
        if parts is not None and part_of(full, prefixes) not in parts:
            continue
        out.append(full)
    return out


def linear_module_names(model: Any, include_vision: bool = False) -> list[str]:
    """Leaf names (``q_proj``, ``down_proj``, ...) of the model's linear layers, excluding the head."""
    parts = {"llm", "aligner", "vision"} if include_vision else {"llm"}
    return sorted({full.split(".")[-1] for full in linear_modules(model, parts)})


def is_multimodal(model: Any) -> bool:
    meta = getattr(model, "model_meta", None)
    if meta is not None and getattr(meta, "is_multimodal", False):
        return True
    prefixes = _arch_prefixes(model)
    return any(part_of(full, prefixes) != "llm" for full in linear_modules(model))


def resolve_target_modules(model: Any, args: Any) -> Any:
    """What peft's ``target_modules`` should be for these arguments: a regex, leaf names (text-only
    models) or full module names (multimodal models, so the LLM's ``q_proj`` is not the tower's)."""
    if args.get("target_regex"):
        return args.target_regex
    wanted = list(args.get("target_modules") or ["all-linear"])
    multimodal = is_multimodal(model)
    parts = selected_parts(args) if multimodal else {"llm"}
    linear_full = linear_modules(model, parts)
    linear_leaf = sorted({f.split(".")[-1] for f in linear_full})
    out: list[str] = []
    for name in wanted:
        if name == "all-linear":
            out += linear_full if multimodal else linear_leaf
        else:
            out.append(name)
    names = [full for full, _ in model.named_modules()]
    leaves = {full.split(".")[-1] for full in names}
    missing = [n for n in out if n not in leaves and not any(f == n or f.endswith("." + n) for f in names)]
    if missing:
        raise UsageError(
            f"--target_modules: {', '.join(missing)} match no module of the model; its linear "
            f"modules are {', '.join(linear_leaf) or 'none'}"
        )
    if not out:
        if multimodal and not parts:
            raise UsageError(
                "--target_modules all-linear matched nothing: --freeze_llm true with --freeze_vit "
                "and --freeze_aligner true leaves no part of the model to tune"
            )
        raise UsageError("--target_modules matched nothing: the model has no linear module outside the head")
    return sorted(set(out))


def freeze_multimodal_parts(model: Any, args: Any) -> int:
    """Full training of a multimodal model: freeze the parts ``--freeze_llm/vit/aligner`` name
    (``--trainable_parameters`` prefixes stay trainable). Returns how many parameters were frozen."""
    if not is_multimodal(model):
        return 0
    prefixes = _arch_prefixes(model)
    keep = selected_parts(args)
    trainable = tuple(args.get("trainable_parameters") or ())
    frozen = 0
    for name, param in model.named_parameters():
        if part_of(name, prefixes) in keep or (trainable and name.startswith(trainable)):
            continue
        if param.requires_grad:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen
