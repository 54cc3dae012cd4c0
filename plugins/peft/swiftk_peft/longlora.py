"""``--train_type longlora``: LoRA + trainable embedding and norm layers + shifted sparse attention.

LongLoRA (Chen et al., 2023): during training, attention runs in groups of a quarter of the
sequence, with half of the heads shifted by half a group so information flows between groups
(S²-Attn).  Inference and evaluation use full attention, so a trained adapter loads and merges like
any LoRA (the embedding and norms are peft ``modules_to_save``).

S²-Attn is an attention function registered in transformers' ``AttentionInterface``; it applies
to any model whose attention layers dispatch through that interface (Llama, Qwen2, Mistral and most
decoder-only models of transformers 5).  Other models get a clear error.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError
from swiftk_peft.lora import lora_config, wrap

ATTN_NAME = "swiftk_s2attn"
GROUP_RATIO = 1 / 4


def s2_attention_forward(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: Any = None,
    is_causal: Any = None,
    **kwargs: Any,
):
    """Shifted sparse attention while training; plain sdpa otherwise (and with a KV cache)."""
    import torch
    import torch.nn.functional as F
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    q_len = query.shape[2]
    if not module.training or key.shape[2] != q_len or q_len < 4:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    bsz, heads, _, dim = query.shape
    group = max(2, int(q_len * GROUP_RATIO))
    padded = -(-q_len // group) * group
    if padded != q_len:  # pad at the end: causal attention keeps real positions from seeing the pad
        pad = (0, 0, 0, padded - q_len)
        query, key, value = F.pad(query, pad), F.pad(key, pad), F.pad(value, pad)
    half = heads // 2

    def shift(x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x[:, :half], x[:, half:].roll(-group // 2, dims=2)], dim=1)
        return x.reshape(bsz, heads, padded // group, group, dim).transpose(1, 2).reshape(-1, heads, group, dim)

    out = F.scaled_dot_product_attention(
        shift(query),
        shift(key),
        shift(value),
        is_causal=True,
        scale=scaling,
        dropout_p=dropout if module.training else 0.0,
    )
    out = out.reshape(bsz, padded // group, heads, group, dim).transpose(1, 2).reshape(bsz, heads, padded, dim)
    out = torch.cat([out[:, :half], out[:, half:].roll(group // 2, dims=2)], dim=1)[:, :, :q_len]
    return out.transpose(1, 2).contiguous(), None


def register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(ATTN_NAME, s2_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTN_NAME, sdpa_mask)


def _check_architecture(model: Any) -> None:
    if not getattr(model, "_supports_attention_backend", False):
        raise UsageError(
            f"--train_type longlora: {type(model).__name__} does not route its attention through "
            f"transformers' AttentionInterface, so shifted sparse attention cannot be applied; use "
            f"--train_type lora (Llama, Qwen2, Mistral and most decoder-only models are supported)"
        )
    if model.config.get_text_config().num_attention_heads < 2:
        raise UsageError("--train_type longlora: shifted sparse attention needs at least 2 attention heads")


def _embed_and_norms(model: Any) -> list[str]:
    """Module names (leaf) of the input embedding and every normalization layer."""
    embed = model.get_input_embeddings()
    names = set()
    for full, module in model.named_modules():
        leaf = full.split(".")[-1]
        if module is embed:
            names.add(leaf)
        elif "norm" in leaf.lower() and any(True for _ in module.parameters(recurse=False)):
            names.add(leaf)
    return sorted(names)


def prepare_longlora(model: Any, args: Any) -> Any:
    _check_architecture(model)
    register_attention()
    if args.get("adapters"):
        from swiftk_peft.lora import load_adapter
        from swiftk_peft.common import report_trainable

        model = load_adapter(model, args.adapters[0], args, trainable=True)
        report_trainable(model, "longlora")
    else:
        extra = _embed_and_norms(model)
        saved = sorted(set(list(args.get("modules_to_save") or []) + extra))
        tied = bool(getattr(model.config.get_text_config(), "tie_word_embeddings", False))
        config = lora_config(model, args, modules_to_save=saved, ensure_weight_tying=tied)
        model = wrap(model, config, args, "longlora")
    model.config._attn_implementation = ATTN_NAME
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    base.config._attn_implementation = ATTN_NAME
    return model


def _restore_attention(model: Any) -> Any:
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "_attn_implementation", None) == ATTN_NAME:
        config._attn_implementation = "sdpa"
    return model


def load_longlora(model: Any, adapter_dir: str, args: Any = None) -> Any:
    from swiftk_peft.lora import load_adapter

    return load_adapter(model, adapter_dir, args)


def merge_longlora(model: Any) -> Any:
    return _restore_attention(model.merge_and_unload())
