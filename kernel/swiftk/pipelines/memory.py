"""A memory preflight for training: what one rank will hold, from the model's config alone, before anything loads.

Parameters, gradients and optimizer state follow the ZeRO paper's accounting (``Psi`` parameters, ``K = 12``
bytes of Adam state and fp32 master weights per trainable parameter under mixed precision); activations follow
Korthikanti et al. (``s*b*h*34`` bytes per layer with memory-efficient attention, only the layer inputs with
gradient checkpointing) plus the fp32 logits. ZeRO-1/2/3 divide optimizer state, then gradients, then
parameters by the ranks; offload moves them off a GPU (not off a CPU: that is the same memory). Under ZeRO,
DeepSpeed also keeps an fp32 master partition and an fp32 copy of the gradient partition, and on CPU the
model is loaded whole before ZeRO-3 partitions it. ``runtime`` is the process itself (Python, torch, the
tokenizer, the data): measured at about 600 MiB here. Measured against peaks: docs/distributed.md.

When the estimate exceeds the device's memory (GPU memory, or on CPU the available RAM shared by this node's
ranks) the run stops before loading with one line naming what would fit. ``SWIFTK_SKIP_MEMORY_CHECK=1`` trusts
the user instead.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from swiftk.errors import UsageError

GIB = 1024**3
#: Rows are taken at --max_length tokens (the worst case the user allows); without it at most this many, not at
#: the model's own limit (32k and more), which would refuse most jobs whose rows are short
UNSET_LENGTH = 2048
RUNTIME_BYTES = 600 * 1024**2
_DTYPE_BYTES = {"float32": 4, "fp32": 4, "float16": 2, "fp16": 2, "bfloat16": 2, "bf16": 2}
#: trainers that keep a frozen copy of a fully trained model
_REFERENCE_TYPES = {"dpo", "kto", "ppo", "grpo", "gkd"}


@dataclasses.dataclass
class Estimate:
    params: float
    gradients: float
    optimizer: float
    activations: float
    runtime: float = RUNTIME_BYTES

    @property
    def total(self) -> float:
        return self.params + self.gradients + self.optimizer + self.activations + self.runtime

    def line(self) -> str:
        parts = ", ".join(f"{f.name} {getattr(self, f.name) / GIB:.2f}" for f in dataclasses.fields(self))
        return f"{self.total / GIB:.2f} GiB ({parts})"


@dataclasses.dataclass
class Plan:
    """What the estimate depends on, so that alternatives are the same plan with one thing changed."""

    shape: dict
    full: bool
    lora_rank: int
    dtype_bytes: int
    frozen_bytes: float
    world: int
    zero_stage: int
    offload: bool
    on_gpu: bool
    checkpointing: bool
    batch: int
    seq: int
    adam: bool
    reference: bool


def model_shape(config: dict) -> Optional[dict]:
    """Hidden size, layers, MLP width, vocabulary, heads and tie of a decoder config (its text part for a
    multimodal one); None when the config does not say."""
    text = config.get("text_config") or config.get("llm_config") or config
    h, layers, vocab = text.get("hidden_size"), text.get("num_hidden_layers"), text.get("vocab_size")
    if not (h and layers and vocab):
        return None
    heads = text.get("num_attention_heads") or 1
    head_dim = text.get("head_dim") or h // heads
    return {
        "hidden": h,
        "layers": layers,
        "inter": text.get("intermediate_size") or 4 * h,
        "vocab": vocab,
        "q": heads * head_dim,
        "kv": (text.get("num_key_value_heads") or heads) * head_dim,
        "experts": text.get("num_experts") or text.get("num_local_experts") or 1,
        "tied": bool(config.get("tie_word_embeddings", text.get("tie_word_embeddings", False))),
    }


def count_params(shape: dict) -> tuple[int, int]:
    """(all parameters, LoRA parameters per unit of rank on every linear layer of the decoder)."""
    h, inter, q, kv = shape["hidden"], shape["inter"], shape["q"], shape["kv"]
    linears = [(h, q), (h, kv), (h, kv), (q, h)] + [(h, inter), (h, inter), (inter, h)] * shape["experts"]
    per_layer = sum(i * o for i, o in linears) + 2 * h
    total = shape["layers"] * per_layer + shape["vocab"] * h * (1 if shape["tied"] else 2) + h
    lora_per_rank = shape["layers"] * sum(i + o for i, o in linears)
    return total, lora_per_rank


def estimate(plan: Plan) -> Estimate:
    total, lora_per_rank = count_params(plan.shape)
    trainable = total if plan.full else lora_per_rank * plan.lora_rank
    b, world, stage = plan.dtype_bytes, plan.world, plan.zero_stage

    def shard(nbytes: float, from_stage: int) -> float:
        return nbytes / world if stage >= from_stage else nbytes

    offloaded = plan.offload and plan.on_gpu
    base = total * b if plan.full else total * plan.frozen_bytes
    params = 0.0 if offloaded and stage == 3 else shard(base, 3)
    if stage == 3 and not plan.on_gpu:
        params += base  # loaded whole before DeepSpeed partitions it, and in the same memory on CPU
    if plan.reference and plan.full:
        params += shard(total * b, 3)
    params += 0 if plan.full else trainable * b
    gradients = shard(trainable * b, 2)
    if stage >= 1 and not offloaded:
        gradients += shard(trainable * 4, 1)  # DeepSpeed's fp32 copy of this rank's gradient partition for its step
    # Adam: two fp32 moments; fp32 master weights when training in 16 bits, and always under ZeRO (DeepSpeed
    # steps its own fp32 partition); SGD without momentum: no state
    master = 4 if b < 4 or stage >= 1 else 0
    per_param = (8 if plan.adam else 0) + master
    optimizer = 0.0 if offloaded else shard(trainable * per_param, 1)
    h, layers, tokens = plan.shape["hidden"], plan.shape["layers"], plan.batch * plan.seq
    scale = b / 2  # Korthikanti's 34 bytes per token and hidden unit are for 16-bit activations
    layer = tokens * h * 34 * scale
    activations = (layers * tokens * h * b + layer) if plan.checkpointing else layers * layer
    activations += tokens * plan.shape["vocab"] * 4 * 3  # fp32 logits, their softmax and gradient
    return Estimate(params, gradients, optimizer, activations)


def model_max_length(config: dict) -> int:
    text = config.get("text_config") or config.get("llm_config") or config
    return int(text.get("max_position_embeddings") or config.get("max_position_embeddings") or UNSET_LENGTH)


def plan_of(args: Any, config: dict, world: int, on_gpu: bool) -> Optional[Plan]:
    shape = model_shape(config)
    if shape is None:
        return None
    dtype = str(args.get("torch_dtype") or config.get("torch_dtype") or config.get("dtype") or "float32")
    b = _DTYPE_BYTES.get(dtype.replace("torch.", ""), 4)
    quant = args.get("quant_bits")
    ds = deepspeed_settings(args.get("deepspeed"))
    return Plan(
        shape=shape,
        full=args.get("train_type") in ("full", "dummy"),  # dummy: the model trains as loaded (all of it)
        lora_rank=int(args.get("lora_rank") or 8),
        dtype_bytes=b,
        frozen_bytes=quant / 8 if quant else b,
        world=world,
        zero_stage=ds[0],
        offload=ds[1],
        on_gpu=on_gpu,
        checkpointing=bool(args.get("gradient_checkpointing")),
        batch=int(args.get("per_device_train_batch_size") or 1),
        seq=int(args.get("max_length") or min(model_max_length(config), UNSET_LENGTH)),
        adam="sgd" not in str(args.get("optim") or "adamw"),
        reference=getattr(args, "command", None) == "rlhf" and args.get("rlhf_type") in _REFERENCE_TYPES,
    )


def deepspeed_settings(value: Any) -> tuple[int, bool]:
    """(ZeRO stage, offload) of ``--deepspeed``: a preset, a dict or a JSON file; (0, False) without it."""
    import json

    from swiftk.pipelines.train_args import deepspeed_config

    if not value:
        return 0, False
    config = deepspeed_config(value)
    if isinstance(config, str):  # a JSON file, or JSON text
        try:
            text = open(config, encoding="utf-8").read() if os.path.isfile(config) else config
            config = json.loads(text)
        except (OSError, ValueError):
            return 0, False
    zero = config.get("zero_optimization") or {}
    offload = any((zero.get(k) or {}).get("device", "none") != "none" for k in ("offload_optimizer", "offload_param"))
    return int(zero.get("stage") or 0), offload


def device_memory(local: int = 1) -> tuple[float, str]:
    """Bytes one rank may use, and where: the GPU's total memory, or this node's available RAM shared by its
    ``local`` ranks on CPU."""
    import torch

    if torch.cuda.is_available():
        return float(torch.cuda.mem_get_info()[1]), f"GPU {torch.cuda.get_device_name()}"
    import psutil

    return psutil.virtual_memory().available / local, f"RAM available to each of {local} rank(s)"


def alternatives(plan: Plan, limit: float) -> list[str]:
    """The single changes (in the order one would try them) whose estimate fits ``limit``."""
    tries = []
    if plan.full:
        tries.append(("--train_type lora", dict(full=False)))
    if plan.world > 1:
        for stage in (2, 3):
            if plan.zero_stage < stage:
                tries.append((f"--deepspeed zero{stage}", dict(zero_stage=stage)))
    if plan.on_gpu and not plan.offload:
        tries.append(("--deepspeed zero3_offload", dict(zero_stage=3, offload=True)))
    if not plan.checkpointing:
        tries.append(("--gradient_checkpointing true", dict(checkpointing=True)))
    if plan.batch > 1:
        tries.append((f"--per_device_train_batch_size {max(1, plan.batch // 4)}", dict(batch=max(1, plan.batch // 4))))
    return [name for name, change in tries if estimate(dataclasses.replace(plan, **change)).total <= limit]


def preflight(args: Any, config: dict, world: Optional[int] = None, local: Optional[int] = None) -> Optional[Estimate]:
    """Print one rank's estimate (from rank 0, or from the launcher before torchrun starts ``world`` ranks,
    ``local`` of them on this node); stop with one line when it cannot fit."""
    world = world or int(os.environ.get("WORLD_SIZE") or 1)
    import torch

    plan = plan_of(args, config, world, torch.cuda.is_available())
    if plan is None:
        return None
    result = estimate(plan)
    limit, where = device_memory(local or int(os.environ.get("LOCAL_WORLD_SIZE") or 1))
    if os.environ.get("RANK", "0") == "0":
        shape = f"batch {plan.batch} x {plan.seq} tokens"
        line = f"{result.line()} at {shape}, of {limit / GIB:.1f} GiB ({where})"
        print(f"[swiftk] memory estimate per rank: {line}", flush=True)
    if result.total > limit and os.environ.get("SWIFTK_SKIP_MEMORY_CHECK") != "1":
        fits = alternatives(plan, limit)
        hint = f"these fit: {', '.join(fits)}" if fits else "nothing simple fits: use more or larger devices"
        raise UsageError(
            f"--model {args.get('model')}: training needs about {result.total / GIB:.1f} GiB per rank "
            f"({result.line()}) but {where} is {limit / GIB:.1f} GiB; {hint} "
            f"(SWIFTK_SKIP_MEMORY_CHECK=1 runs anyway)"
        )
    return result
