"""The LM head of trl's preference and RL trainers on CPU: plain logits over the scored positions.

trl (1.16) patches the model so that ``model(..., labels=..., fused_lm_head=True)`` returns per-token
log-probabilities through a chunked head that never holds the ``(tokens, vocab)`` logits. That saves
memory on a GPU with a large vocabulary, where Triton also restricts it to the labelled positions. On
CPU it projects every position, prompt and padding included, folds each tile in several fp32 passes
for the optional outputs, and projects everything again in the backward: a DPO step of the
benchmark's 4M model spent 90 ms in it where the plain head takes 29 ms (benchmarks/rlhf_cpu.py).

:func:`install` wraps trl's patched forward: on CPU, when the logits of the labelled positions fit in
:data:`MAX_LOGITS` elements and the model needs no logit scaling, it projects only those positions
through the head, once, and lets autograd do the backward; otherwise (GPU, a large vocabulary, MoE
router logits, soft-capped or scaled logits) trl's own head runs. The outputs are trl's
``FusedCausalLMOutput`` fields with the same meaning; log-probabilities agree to float rounding.
"""

from __future__ import annotations

import os
import types
from typing import Any

#: at most this many logits (labelled positions x vocabulary) in the plain path: 256 MiB of fp32,
#: a few such tensors at once in the backward
MAX_LOGITS = 1 << 26

_SCALING = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def _plain_eligible_model(model: Any) -> bool:
    config = model.config.get_text_config()
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in _SCALING):
        return False
    # Before transformers 5 a vision-language model's backbone is not ``base_model``: leave it to trl
    return config is model.config and not getattr(config, "output_router_logits", False)


def install(
    model: Any, temperature: float = 1.0, outputs: tuple[str, ...] = ("log_probs",), cast_to_fp32: bool = False
) -> bool:
    """Wrap the fused forward trl put on ``model`` (the transformers model, under any PEFT wrapper).

    Returns whether it was wrapped: not when trl did not patch this model or its logits need scaling.
    """
    trl_forward = model.__dict__.get("forward")
    if trl_forward is None or getattr(trl_forward, "_swiftk_plain_head", False) or not _plain_eligible_model(model):
        return False

    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None, **kwargs):
        if fused_lm_head and labels is not None and shift_labels is None and not kwargs.get("output_router_logits"):
            result = _plain_head(self, args, kwargs, labels, num_items_in_batch, temperature, outputs, cast_to_fp32)
            if result is not None:
                return result
        return trl_forward(
            *args,
            fused_lm_head=fused_lm_head,
            labels=labels,
            shift_labels=shift_labels,
            num_items_in_batch=num_items_in_batch,
            **kwargs,
        )

    bound = types.MethodType(forward, model)
    # generate() checks its keyword arguments against the forward's signature: keep trl's (the model's)
    bound.__func__.__wrapped__ = getattr(trl_forward, "__wrapped__", type(model).forward)
    bound.__func__._swiftk_plain_head = True
    model.forward = bound
    return True


def _plain_head(model, args, kwargs, labels, num_items_in_batch, temperature, outputs, cast_to_fp32):
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    lm_head = model.get_output_embeddings()
    shifted = labels[:, 1:]
    mask = shifted != -100
    scored = int(mask.sum())
    if (
        lm_head.weight.device.type != "cpu"
        or hasattr(lm_head.weight, "ds_id")  # DeepSpeed ZeRO-3 partitions it: trl gathers it for its head
        or scored * lm_head.weight.shape[0] > MAX_LOGITS
    ):
        return None
    kwargs["use_cache"] = False
    hidden = None if args else unpadded_hidden(model, kwargs)
    if hidden is None:
        hidden = model.base_model(*args, **kwargs).last_hidden_state
    hidden = hidden[:, :-1]
    if cast_to_fp32:  # trl's cast_lm_head_to_fp32: the projection itself in fp32, outside autocast
        bias = None if lm_head.bias is None else lm_head.bias.float()
        with torch.autocast("cpu", enabled=False):
            logits = torch.nn.functional.linear(hidden[mask].float(), lm_head.weight.float(), bias)
    else:
        logits = lm_head(hidden[mask].to(lm_head.weight.dtype)).float()
    if temperature != 1.0:
        logits = logits / temperature
    log_softmax = logits.log_softmax(-1)
    targets = shifted[mask]
    per_token = {"log_probs": log_softmax.gather(-1, targets.unsqueeze(-1)).squeeze(-1)}
    if "entropy" in outputs:  # differentiable, as trl's is
        per_token["entropy"] = -(log_softmax.exp() * log_softmax).sum(-1)
    with torch.no_grad():
        if "log_sum_sq_probs" in outputs:
            per_token["log_sum_sq_probs"] = torch.logsumexp(2 * log_softmax, dim=-1)
        if "mean_logits" in outputs:
            per_token["mean_logits"] = logits.mean(-1)
        if "is_top1" in outputs:
            per_token["is_top1"] = logits.argmax(-1) == targets
    full = {name: _spread(value, mask) for name, value in per_token.items()}
    log_probs = full["log_probs"]
    loss = -log_probs.sum() / (mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch)
    return FusedCausalLMOutput(
        loss=loss,
        log_probs=log_probs,
        entropy=full.get("entropy"),
        log_sum_sq_probs=full.get("log_sum_sq_probs"),
        mean_logits=full.get("mean_logits"),
        is_top1=full.get("is_top1"),
        label_mask=mask,
    )


def _packable(model: Any) -> bool:
    """Whether the backbone can run a padded batch end to end: rotary positions (a sequence's attention
    does not depend on where it starts), sdpa-style attention that transformers restricts to each
    sequence from ``position_ids`` restarting at 0, and no layer that would mix sequences."""
    from swiftk_sft.padding_free import ATTENTION

    config = model.config
    kinds = set(getattr(config, "layer_types", None) or ["full_attention"])
    return (
        os.environ.get("SWIFTK_PADDING_FREE", "1") != "0"
        and getattr(model, "_supports_attention_backend", False)
        and getattr(config, "_attn_implementation", None) in ("sdpa", ATTENTION)
        and kinds == {"full_attention"}
        and not (getattr(config, "use_sliding_window", False) and getattr(config, "sliding_window", None))
        and (getattr(config, "rope_parameters", None) or getattr(config, "rope_theta", None)) is not None
    )


def unpadded_hidden(model: Any, kwargs: dict) -> Any:
    """The backbone's last hidden states of a padded batch, computed without its padding.

    The rows' tokens end to end in one row, positions restarting at 0 for each (transformers then keeps
    attention inside each sequence), the hidden states put back where the tokens were (zero at the
    padding). A DPO batch of the benchmark's pairs is a tenth padding: that much less work in every
    layer, forward and backward. None (run the padded batch) for anything but ids and a 2-D mask, a
    batch without padding, a row whose tokens are not contiguous, or a model that cannot (:func:`_packable`).
    """
    import torch

    ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
    given = {key for key, value in kwargs.items() if value is not None}  # PEFT passes inputs_embeds=None, ...
    if ids is None or mask is None or mask.dim() != 2 or given - {"input_ids", "attention_mask", "use_cache"}:
        return None
    valid = mask.bool()
    if bool(valid.all()) or not _packable(model):
        return None
    lengths = valid.sum(1)
    starts = valid.int().argmax(1)
    columns = torch.arange(valid.shape[1], device=valid.device)
    contiguous = (columns >= starts[:, None]) & (columns < (starts + lengths)[:, None])
    if not torch.equal(contiguous, valid):
        return None
    positions = (columns - starts[:, None]).expand_as(valid)[valid]
    out = model.base_model(input_ids=ids[valid].unsqueeze(0), position_ids=positions.unsqueeze(0), use_cache=False)
    flat = out.last_hidden_state[0]
    return flat.new_zeros(*valid.shape, flat.shape[-1]).masked_scatter(valid.unsqueeze(-1), flat)


def _spread(values: Any, mask: Any) -> Any:
    """Per labelled position -> per position, zero (False) elsewhere; keeps the autograd link."""
    return values.new_zeros(mask.shape).masked_scatter(mask, values)


#: what trl's preference and RL trainers read from the head's output (DPO's metrics read them all)
TRAINER_OUTPUTS = ("log_probs", "entropy", "mean_logits", "is_top1")


def install_on_trainer(trainer: Any) -> None:
    """After trl's trainer patched its models: the policy (under PEFT) and the reference model.

    The temperature is the one trl gave its head (GRPO's and RLOO's ``self.temperature``; 1 elsewhere).
    """
    model = trainer.model
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    temperature = getattr(trainer, "temperature", 1.0)
    cast = bool(getattr(trainer.args, "cast_lm_head_to_fp32", False))
    outputs = TRAINER_OUTPUTS + (("log_sum_sq_probs",) if getattr(trainer, "use_weighting", False) else ())
    install(model, temperature=temperature, outputs=outputs, cast_to_fp32=cast)
    ref_model = getattr(trainer, "ref_model", None)
    if ref_model is not None:
        install(ref_model, temperature=temperature, cast_to_fp32=cast)
