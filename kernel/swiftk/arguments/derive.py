"""Derived defaults and value checks, applied after parsing.

:func:`derive_defaults` takes every argument of a command (defaults filled in, the user's values
applied) and the set of names the user gave, and fills the defaults the seed page states as
derived from other arguments.  Where the page's default depends on the loaded model it is left
for the pipeline (documented below).  Call :func:`swiftk.arguments.load_args.apply_saved_args`
first, so that values read from ``args.json`` take part.

Refused here: ``--sequence_parallel_size`` above 1 (no sequence parallelism yet: accepting it would
train without it, silently).

Derived here:

- every command with the basic groups: ``load_args`` (False for sft/pt/rlhf, True otherwise);
  ``task_type`` 'seq_cls' when ``num_labels`` is set; ``bnb_4bit_compute_dtype`` = ``torch_dtype``.
- sft, pt, rlhf: ``learning_rate`` 1e-5 for full training, 1e-4 for every tuner; ``output_dir``
  ``output/<last component of --model>`` (``output`` without a model) plus, with
  ``add_version``, ``v<N>-<YYYYMMDD-HHMMSS>`` where N is 1 + the highest ``vN`` already in that
  folder (0 if none; no folder is created); ``eval_strategy`` = ``save_strategy``,
  ``eval_steps`` = ``save_steps``; ``metric_for_best_model`` 'loss', 'rouge-l' with
  ``predict_with_generate`` (unset when ``--metric`` names a plugin's metric, whose keys are
  unknown), 'reward' for GRPO, unset for PPO; ``greater_is_better`` False when
  that metric contains 'loss', else True; ``metric`` 'acc', or 'nlg' with
  ``predict_with_generate``; ``max_new_tokens`` 64 and ``temperature`` 0 with
  ``predict_with_generate``; ``llamapro_num_groups`` = ``llamapro_num_new_blocks``.
- pt: ``use_chat_template`` False (the generation template) and ``loss_scale`` 'all'.
- rlhf: ``beta`` 2.0 for simpo, 0.04 for grpo, else 0.1; ``loss_scale`` 'last_round' unless
  given; ``per_device_train_batch_size`` 2 for kto unless given (the page's 1 leaves KTO's KL term
  no other row to pair with; an explicit 1 is refused by swift-plugin-rlhf); ``temperature`` 0.9;
  ``cosine_max_len`` = ``max_completion_length``;
  ``swanlab_exp_name`` = ``output_dir``; ``reward_weights`` must have one weight per reward
  function plus one for ``--reward_model``.
- infer, deploy, app, eval: ``result_path``
  ``<checkpoint folder or result/<model name>>/<infer|deploy|eval>_result/<timestamp>.jsonl``
  (eval: only without ``--eval_url``); deploy, app, eval: ``served_model_name`` = model name;
  app: ``studio_title`` = model name, ``lang`` 'en'; eval: ``temperature`` 0.
- export, merge-lora: ``merge_lora`` True for merge-lora unless given; ``output_dir``
  ``<checkpoint>-<suffix>`` next to the adapter/model, suffix ``<quant_method>-int<quant_bits>`` (``<quant_method>`` without bits)
  or ``merged`` (unset when there is nothing to export).
- sample: ``output_dir`` 'sample_output', ``temperature`` 1.0.

Left to the pipeline, known only once the model is resolved: ``lazy_tokenize`` (False for LLMs,
True for multimodal models: :func:`resolve_lazy_tokenize`), ``model_type``, ``template``,
``torch_dtype``, ``attn_impl``, ``device_map``, ``max_length`` (the model's max length; for PPO,
GRPO and inference it means the max prompt length), ``norm_bbox``, ``is_multimodal``,
``vllm_device``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any, Dict, Optional, Set

from swiftk.arguments.commands import TRAIN_COMMANDS
from swiftk.errors import UsageError

__all__ = ["derive_defaults", "validate", "resolve_lazy_tokenize", "model_suffix", "add_version_dir", "TRAIN_COMMANDS"]

_DEPLOY_LIKE = frozenset({"deploy", "app", "eval", "rollout"})

logger = logging.getLogger("swiftk.arguments")

# --- checks ---------------------------------------------------------------------------------

_POSITIVE_INT = (
    "lora_rank",
    "lora_alpha",
    "num_generations",
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "dataset_num_proc",
    "num_beams",
    "max_batch_size",
    "tp",
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "max_num_seqs",
    "vllm_max_num_seqs",
    "sequence_parallel_size",
    "vera_rank",
    "galore_rank",
    "galore_update_proj_gap",
    "galore_queue_size",
    "reft_rank",
    "adalora_target_r",
    "adalora_init_r",
    "adalora_deltaT",
    "llamapro_num_new_blocks",
    "llamapro_num_groups",
    "lora_ga_batch_size",
    "lora_ga_iters",
    "lora_ga_max_length",
    "fourier_n_frequency",
    "lisa_step_interval",
    "num_iterations",
    "num_ppo_epochs",
    "num_mini_batches",
    "local_rollout_forward_batch_size",
    "response_length",
    "max_completion_length",
    "num_infer_workers",
    "max_new_tokens",
    "max_length",
    "max_pixels",
    "max_model_len",
    "vllm_max_model_len",
    "session_len",
    "vision_batch_size",
    "vllm_max_lora_rank",
    "num_labels",
    "quant_n_samples",
    "n_best_to_keep",
    "num_return_sequences",
    "num_sampling_per_gpu_batch_size",
    "num_sampling_per_gpu_batches",
    "rollout_depth",
    "max_iterations",
    "eval_num_proc",
    "eval_limit",
    "val_dataset_sample",
    "repetition_n_grams",
    "cosine_max_len",
)  # not save_total_limit: 0 or less keeps every checkpoint, as in transformers (so ms-swift)
_NON_NEGATIVE_INT = (
    "dataloader_num_workers",
    "lisa_activated_layers",
    "adalora_tinit",
    "adalora_tfinal",
    "boft_block_size",
    "boft_block_num",
    "rollout_start_depth",
    "top_logprobs",
    "max_logprobs",
    "seed",
    "data_seed",
)
_FRACTION = (
    "split_dataset_ratio",
    "warmup_ratio",
    "lora_dropout",
    "freeze_parameters_ratio",
    "gpu_memory_utilization",
    "vllm_gpu_memory_utilization",
    "cache_max_entry_count",
    "top_p",
    "vera_dropout",
    "boft_dropout",
    "process_reward_rate",
    "easy_query_threshold",
    "label_smoothing",
)
_NON_NEGATIVE_NUMBER = (
    "weight_decay",
    "max_grad_norm",
    "temperature",
    "neftune_noise_alpha",
    "beta",
    "repetition_penalty",
)
_POSITIVE_NUMBER = ("learning_rate", "num_train_epochs")
_PORT = ("port", "server_port")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate(command: str, values: Dict[str, Any]) -> None:
    """Raise a one-line :class:`UsageError` for a value outside what its argument allows."""

    def check(names, ok, what):
        for name in names:
            value = values.get(name)
            if value is None or not _is_number(value):
                continue
            if not ok(value):
                raise UsageError(f"--{name} must be {what}, got {value}")

    check(_POSITIVE_INT, lambda x: x >= 1 and float(x).is_integer(), "a positive integer")
    check(_NON_NEGATIVE_INT, lambda x: x >= 0 and float(x).is_integer(), "a non-negative integer")
    check(_FRACTION, lambda x: 0 <= x <= 1, "between 0 and 1")
    check(_NON_NEGATIVE_NUMBER, lambda x: x >= 0, "a non-negative number")
    check(_POSITIVE_NUMBER, lambda x: x > 0, "a positive number")
    check(_PORT, lambda x: 0 <= x <= 65535 and float(x).is_integer(), "a port number (0-65535)")

    data_range = values.get("data_range")
    if data_range:
        if len(data_range) != 2 or not (0 <= data_range[0] < data_range[1]):
            raise UsageError(
                f"--data_range must be two integers 'index count' with 0 <= index < count, "
                f"got {' '.join(map(str, data_range))}"
            )

    weights = values.get("reward_weights")
    if weights is not None:
        funcs = list(values.get("reward_funcs") or [])
        models = values.get("reward_model")
        models = len(models) if isinstance(models, list) else (1 if models else 0)
        n = len(funcs) + models
        if len(weights) != n:
            what = f"{len(funcs)} reward function(s)" + (
                "" if not models else " + the reward model" if models == 1 else f" + {models} reward models"
            )
            raise UsageError(
                f"--reward_weights must have one weight per reward function ({what}: {n}), got {len(weights)}"
            )

    if values.get("task_type") == "seq_cls" and "num_labels" in values and values.get("num_labels") is None:
        raise UsageError("--num_labels is required with --task_type seq_cls")

    if (values.get("sequence_parallel_size") or 1) > 1:
        raise UsageError(
            f"--sequence_parallel_size {values['sequence_parallel_size']}: swiftk has no sequence "
            f"parallelism yet; use 1, and fit long sequences with --max_length, --packing true or "
            f"padding-free batches (the default), or save memory with --deepspeed zero2/zero3"
        )


# --- helpers --------------------------------------------------------------------------------


def model_suffix(model: Optional[str]) -> Optional[str]:
    """The last path component of ``--model`` (``Qwen/Qwen2.5-7B`` -> ``Qwen2.5-7B``), or None."""
    if not model:
        return None
    return os.path.basename(model.rstrip("/\\")) or model


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def add_version_dir(output_dir: str) -> str:
    """``output_dir/v<N>-<timestamp>`` with N one above the highest ``vN`` entry there (0 if none)."""
    highest = -1
    if os.path.isdir(output_dir):
        for name in os.listdir(output_dir):
            m = re.match(r"v(\d+)", name)
            if m:
                highest = max(highest, int(m.group(1)))
    return os.path.join(output_dir, f"v{highest + 1}-{_timestamp()}")


def resolve_lazy_tokenize(values: Dict[str, Any], is_multimodal: bool) -> bool:
    """``lazy_tokenize`` once the model is known: the user's value, else True for multimodal models."""
    value = values.get("lazy_tokenize")
    return bool(is_multimodal) if value is None else bool(value)


def _ckpt_dir(values: Dict[str, Any]) -> Optional[str]:
    from swiftk.arguments.load_args import find_saved_args

    found = find_saved_args({k: values.get(k) for k in ("adapters", "model")})
    return found[0] if found else None


def _fill(v: Dict[str, Any], name: str, value: Any) -> None:
    if name in v and v[name] is None:
        v[name] = value


# --- per command ----------------------------------------------------------------------------


def _derive_basic(command: str, v: Dict[str, Any], explicit: Set[str]) -> None:
    _fill(v, "load_args", command not in TRAIN_COMMANDS)
    if v.get("num_labels") is not None and "task_type" in v and "task_type" not in explicit:
        v["task_type"] = "seq_cls"
    if v.get("torch_dtype") is not None:
        _fill(v, "bnb_4bit_compute_dtype", v["torch_dtype"])


def _trains_full_weights(train_type: Optional[str]) -> bool:
    """``full``, or a tuner registered with ``full_parameter=True`` (LISA-like: it trains the weights)."""
    if train_type == "full":
        return True
    from swiftk.host import get_host

    entry = get_host().registry("tuners").entry_or_none(train_type) if train_type else None
    return bool(entry is not None and getattr(entry.load(), "full_parameter", False))


def _derive_train(command: str, v: Dict[str, Any], explicit: Set[str]) -> None:
    _fill(v, "learning_rate", 1e-5 if _trains_full_weights(v.get("train_type")) else 1e-4)
    if "output_dir" in v:
        if v["output_dir"] is None:
            suffix = model_suffix(v.get("model"))
            v["output_dir"] = os.path.join("output", suffix) if suffix else "output"
        if v.get("add_version"):
            v["output_dir"] = add_version_dir(v["output_dir"])
    _fill(v, "eval_strategy", v.get("save_strategy"))
    _fill(v, "eval_steps", v.get("save_steps"))
    generate = bool(v.get("predict_with_generate"))
    rlhf_type = v.get("rlhf_type") if command == "rlhf" else None
    _fill(v, "metric", "nlg" if generate else "acc")
    if (
        "metric_for_best_model" in v
        and v["metric_for_best_model"] is None
        and rlhf_type != "ppo"
        and not (generate and v.get("metric") not in (None, "nlg"))
    ):
        # a plugin's --metric with generation: its keys are unknown here, so no best-model metric is assumed
        v["metric_for_best_model"] = "reward" if rlhf_type == "grpo" else "rouge-l" if generate else "loss"
    metric = v.get("metric_for_best_model")
    if metric is not None:
        _fill(v, "greater_is_better", "loss" not in metric)
    if generate:
        _fill(v, "max_new_tokens", 64)
        if command != "rlhf":
            _fill(v, "temperature", 0.0)
    _fill(v, "llamapro_num_groups", v.get("llamapro_num_new_blocks"))


def _derive_pt(v: Dict[str, Any], explicit: Set[str]) -> None:
    """``swift pt``: the generation template and the loss on every token."""
    if "use_chat_template" not in explicit:
        v["use_chat_template"] = False
    if "loss_scale" not in explicit:
        v["loss_scale"] = "all"


def _derive_rlhf(v: Dict[str, Any], explicit: Set[str]) -> None:
    rlhf_type = v.get("rlhf_type")
    _fill(v, "beta", 2.0 if rlhf_type == "simpo" else 0.04 if rlhf_type == "grpo" else 0.1)
    if "loss_scale" in v and "loss_scale" not in explicit:
        v["loss_scale"] = "last_round"
    _fill(v, "temperature", 0.9)
    _fill(v, "cosine_max_len", v.get("max_completion_length"))
    _fill(v, "swanlab_exp_name", v.get("output_dir"))
    if (
        rlhf_type == "kto"
        and "per_device_train_batch_size" not in explicit
        and (v.get("per_device_train_batch_size") or 1) < 2
    ):
        # KTO's KL term pairs each prompt with another row's completion of the same batch
        v["per_device_train_batch_size"] = 2
        if os.environ.get("RANK", "0") == "0":
            logger.warning(
                "--rlhf_type kto: per_device_train_batch_size 2 instead of the default 1, which "
                "leaves KTO's KL term no other row to pair with"
            )


def _derive_infer(command: str, v: Dict[str, Any]) -> None:
    suffix = model_suffix(v.get("model"))
    if "result_path" in v and v["result_path"] is None and not (command == "eval" and v.get("eval_url")):
        folder = {"infer": "infer_result", "eval": "eval_result"}.get(command, "deploy_result")
        base = _ckpt_dir(v) or (os.path.join("result", suffix) if suffix else "result")
        v["result_path"] = os.path.join(base, folder, f"{_timestamp()}.jsonl")
    if command in _DEPLOY_LIKE and suffix:
        _fill(v, "served_model_name", suffix)
    if command == "app":
        if suffix:
            _fill(v, "studio_title", suffix)
        _fill(v, "lang", "en")
    if command == "eval":
        _fill(v, "temperature", 0.0)


def _derive_export(command: str, v: Dict[str, Any], explicit: Set[str]) -> None:
    if command == "merge-lora" and "merge_lora" in v and "merge_lora" not in explicit:
        v["merge_lora"] = True
    if "output_dir" not in v or v["output_dir"] is not None:
        return
    if v.get("quant_method"):
        bits = v.get("quant_bits")
        suffix = f"{v['quant_method']}-int{bits}" if bits else v["quant_method"]  # fp8 has no --quant_bits
    elif v.get("merge_lora"):
        suffix = "merged"
    elif v.get("to_cached_dataset"):  # swift-plugin-datasets' argument
        suffix = "cached_dataset"
    else:
        return
    adapters = v.get("adapters") or []
    ckpt = (
        adapters[0]
        if adapters
        else (
            v.get("model")
            if v.get("model") and os.path.isdir(v["model"])
            else os.path.join(".", model_suffix(v.get("model")) or "model")
        )
    )
    ckpt = ckpt.rstrip("/\\") or ckpt
    parent, name = os.path.split(ckpt)
    v["output_dir"] = os.path.join(parent, f"{name}-{suffix}")


def derive_defaults(command: str, values: Dict[str, Any], explicit: Set[str]) -> Dict[str, Any]:
    """Return a copy of ``values`` with every derived default filled (see the module docstring).

    Raises :class:`UsageError` for invalid values (``--lora_rank -4``, a ``--reward_weights``
    of the wrong length).  Not idempotent for training commands with ``add_version`` (each call
    appends a version folder): call it once per parse.
    """
    v = dict(values)
    explicit = set(explicit or ())
    validate(command, v)
    _derive_basic(command, v, explicit)
    if command in TRAIN_COMMANDS:
        _derive_train(command, v, explicit)
    if command == "pt":
        _derive_pt(v, explicit)
    if command == "rlhf":
        _derive_rlhf(v, explicit)
    if command in ("infer",) or command in _DEPLOY_LIKE:
        _derive_infer(command, v)
    if command in ("export", "merge-lora"):
        _derive_export(command, v, explicit)
    if command == "sample":
        _fill(v, "output_dir", "sample_output")
        _fill(v, "temperature", 1.0)
    return v
