"""Per-type argument checks (``TrainerSpec.prepare_args``) and trl config values (``config_kwargs``).

Imports nothing heavy: these run before the model loads, so a wrong flag costs no time.

ms-swift's parameters map onto trl's configs like this:

======================  =====================================================================
``--rlhf_type dpo``     ``DPOConfig``: ``beta``, ``label_smoothing``; ``rpo_alpha`` > 0 adds trl's
                        ``"sft"`` loss with that weight (``loss_type ["sigmoid", "sft"]``), which is
                        the RPO loss ``dpo + rpo_alpha * nll(chosen)``.  ``label_smoothing`` > 0
                        (the share of flipped preference labels) selects trl's ``"robust"`` DPO
                        loss: trl 1.x dropped the cDPO variant of the sigmoid loss older trl (and
                        so ms-swift 3.x) used, and robust DPO is its unbiased successor.
                        ``--loss_type`` (one or more of trl's DPO losses) with ``--loss_weights``
                        replaces that choice: trl's multi-loss DPO (MPO).
``--rlhf_type cpo``     ``CPOConfig``: ``beta``, ``label_smoothing``, ``cpo_alpha``.
``--rlhf_type simpo``   ``CPOConfig`` with ``loss_type "simpo"``: ``beta`` (2.0), ``simpo_gamma``,
                        ``cpo_alpha``.
``--rlhf_type orpo``    ``ORPOConfig``: ``beta`` (ORPO's lambda).
``--rlhf_type kto``     ``KTOConfig``: ``beta``, ``desirable_weight``, ``undesirable_weight``.
``--rlhf_type rm``      ``RewardConfig``; the model loads with a one-label classification head.
``--rlhf_type ppo``     :class:`swiftk_rlhf.ppo.PPOConfig`: the page's PPO section one to one.
``--rlhf_type gkd``     trl's ``GKDConfig``: ``beta`` (0.5), ``lmbda``, ``seq_kd``, ``temperature``;
                        ``max_completion_length`` is its ``max_new_tokens``.
======================  =====================================================================
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError

PAIRWISE = ("dpo", "orpo", "simpo", "cpo", "rm")


def refuse_sft_only_arguments(args: Any) -> None:
    """What no preference or RL type supports: sft's loss functions, packing, lazy tokenization and
    generation during evaluation, and another type's own arguments (a ``TrainerSpec.prepare_args`` calls it
    first; ``dpo`` reads ``--loss_type`` itself)."""
    kind = args.rlhf_type
    refuse_other_types_arguments(args)
    if args.get("loss_type") and kind != "dpo":
        raise UsageError(
            f"--loss_type {' '.join(_as_list(args.loss_type))}: --rlhf_type {kind} takes no loss type here (its "
            f"loss is the algorithm's own; --rlhf_type dpo takes one or more of trl's DPO losses); remove --loss_type"
        )
    if args.get("packing"):
        raise UsageError(
            f"--packing true: not supported by --rlhf_type {kind} (pairs and prompts are not packed); remove --packing"
        )
    if args.get("padding_free"):
        raise UsageError(
            f"--padding_free true: not supported by --rlhf_type {kind} (its batches stay padded); remove it"
        )
    if args.get("lazy_tokenize"):
        raise UsageError(
            f"--lazy_tokenize true: not supported by --rlhf_type {kind} (trl's trainers read an "
            f"encoded datasets.Dataset); remove it"
        )
    if args.get("predict_with_generate"):
        raise UsageError(
            f"--predict_with_generate true: not supported by --rlhf_type {kind} (evaluation reports "
            f"the loss and reward metrics); remove it"
        )


#: trl 1.16's DPO losses (``DPOConfig.loss_type``), any of which ``--loss_type`` may list
DPO_LOSSES = (
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
)


def _as_list(value: Any) -> list:
    return [] if value in (None, "") else list(value) if isinstance(value, (list, tuple)) else [value]


def prepare_dpo(args: Any) -> None:
    """``--loss_type`` (one or more of trl's DPO losses) with ``--loss_weights`` (one per loss), ``--rpo_alpha``
    and ``--label_smoothing`` in range."""
    refuse_sft_only_arguments(args)
    if args.get("rpo_alpha") is not None and args.rpo_alpha < 0:
        raise UsageError(f"--rpo_alpha must be >= 0 (0 turns the SFT term off), got {args.rpo_alpha}")
    if not 0 <= float(args.get("label_smoothing") or 0) < 0.5:
        raise UsageError(f"--label_smoothing must be in [0, 0.5) for dpo, got {args.label_smoothing}")
    losses, weights = _as_list(args.get("loss_type")), args.get("loss_weights")
    for name in losses:
        if name not in DPO_LOSSES:
            raise UsageError(f"--loss_type {name}: not a DPO loss; valid (one or more): {', '.join(DPO_LOSSES)}")
    if len(set(losses)) != len(losses):
        raise UsageError(f"--loss_type {' '.join(losses)}: a loss is listed twice")
    if weights is not None and len(weights) != max(len(losses), 1):
        raise UsageError(
            f"--loss_weights {' '.join(map(str, weights))}: one weight per --loss_type "
            f"({' '.join(losses) or 'sigmoid'}), got {len(weights)}"
        )
    smoothed = {"robust", "exo_pair", "aot", "aot_unpaired"}  # the DPO losses that read label_smoothing
    if losses and float(args.get("label_smoothing") or 0) > 0 and not smoothed & set(losses):
        raise UsageError(
            f"--label_smoothing {args.label_smoothing}: none of --loss_type {' '.join(losses)} reads it "
            f"(only {', '.join(sorted(smoothed))} do)"
        )
    explicit = getattr(args, "explicit", ()) or ()
    if losses and "sft" in losses and "rpo_alpha" in explicit and float(args.rpo_alpha or 0) > 0:
        raise UsageError(
            "--rpo_alpha with --loss_type sft: both set the weight of the SFT term; give it in --loss_weights"
        )


def prepare_kto(args: Any) -> None:
    refuse_sft_only_arguments(args)
    if (args.get("per_device_train_batch_size") or 1) < 2:
        raise UsageError(
            "--per_device_train_batch_size must be at least 2 for --rlhf_type kto (its KL term pairs "
            "each prompt with another row's completion in the same batch)"
        )
    explicit = getattr(args, "explicit", ()) or ()
    if "train_sampling_strategy" in explicit and args.get("train_sampling_strategy") != "sequential":
        raise UsageError(
            f"--train_sampling_strategy {args.train_sampling_strategy}: --rlhf_type kto needs sequential "
            f"(its KL term pairs neighbouring rows of a batch)"
        )


def prepare_rm(args: Any) -> None:
    """A reward model is a sequence classifier with one output: the reward."""
    refuse_sft_only_arguments(args)
    if args.get("num_labels") not in (None, 1):
        raise UsageError(
            f"--num_labels {args.num_labels}: a reward model (--rlhf_type rm) has one output; remove --num_labels"
        )
    args.task_type = "seq_cls"
    args.num_labels = 1


def prepare_ppo(args: Any) -> None:
    refuse_sft_only_arguments(args)
    if not args.get("reward_model"):
        raise UsageError(
            "--reward_model is required with --rlhf_type ppo: a reward model folder or id (e.g. the "
            "output of --rlhf_type rm with --train_type full), or the base model plus --reward_adapters "
            "(the output of --rlhf_type rm with --train_type lora)"
        )
    if isinstance(args.reward_model, list):
        raise UsageError(
            f"--reward_model takes one model with --rlhf_type ppo (its value head starts from it), got "
            f"{len(args.reward_model)}: several reward models are GRPO's (--rlhf_type grpo)"
        )
    batch = int(args.per_device_train_batch_size or 1) * int(args.gradient_accumulation_steps or 1)
    if batch % int(args.num_mini_batches or 1):
        raise UsageError(
            f"--num_mini_batches {args.num_mini_batches} must divide per_device_train_batch_size * "
            f"gradient_accumulation_steps ({batch})"
        )
    if args.get("whiten_rewards") and batch // int(args.num_mini_batches or 1) < 8:
        raise UsageError(
            "--whiten_rewards true needs at least 8 rows per mini-batch (per_device_train_batch_size * "
            "gradient_accumulation_steps / num_mini_batches)"
        )


prepare_orpo = prepare_cpo = prepare_simpo = refuse_sft_only_arguments


def refuse_other_types_arguments(args: Any) -> None:
    """This plugin's own arguments (:mod:`swiftk_rlhf.arguments`) given to a type that does not read them."""
    from swiftk_rlhf.arguments import READ_BY

    explicit = getattr(args, "explicit", ()) or ()
    for kind, names in READ_BY.items():
        if kind == args.rlhf_type:
            continue
        for name in names:
            if name in explicit and args.get(name) not in (None, [], False):
                raise UsageError(f"--{name}: read by --rlhf_type {kind} only, not {args.rlhf_type}; remove it")


def prepare_gkd(args: Any) -> None:
    """GKD: a teacher of the student's vocabulary (checked from the two config.json files, before anything
    loads), ``lmbda`` and ``beta`` in [0, 1]; ``beta`` defaults to 0.5 (ms-swift's, the symmetric JSD)."""
    refuse_sft_only_arguments(args)
    from swiftk_rlhf.teacher import check_teacher

    explicit = getattr(args, "explicit", ()) or ()
    for name in ("ref_model", "ref_model_type", "ref_model_revision", "reward_model", "reward_adapters"):
        if name in explicit and args.get(name):
            raise UsageError(
                f"--{name}: --rlhf_type gkd has no reference or reward model (it distils --teacher_model); remove it"
            )
    if "beta" not in explicit:
        args.beta = 0.5
    for name in ("lmbda", "beta"):
        value = float(args.get(name))
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--{name} must be in [0, 1] for --rlhf_type gkd, got {value}")
    if "max_new_tokens" in explicit and "max_completion_length" not in explicit:
        args.max_completion_length = args.max_new_tokens  # ms-swift's older name for it
    check_teacher(args)


# --- trl config values that are not same-named arguments ------------------------------------


def _common(args: Any) -> dict:
    # evaluation reports the trainer's own loss and reward metrics, never generated text
    return {"prediction_loss_only": True}


def dpo_config(args: Any) -> dict:
    """Without ``--loss_type``: the page's sigmoid (robust with label smoothing) plus rpo_alpha × sft.  With it:
    those losses weighted by ``--loss_weights`` (MPO), plus the sft term only when ``--rpo_alpha`` is given
    (ms-swift ≥ 3.8, where rpo_alpha defaults to None)."""
    rpo_alpha = float(args.get("rpo_alpha") or 0)
    explicit = getattr(args, "explicit", ()) or ()
    given = _as_list(args.get("loss_type"))
    if given:
        weights = list(args.get("loss_weights") or [1.0] * len(given))
        if "rpo_alpha" in explicit and rpo_alpha > 0:
            given, weights = given + ["sft"], weights + [rpo_alpha]
        losses = {"loss_type": given, "loss_weights": [float(w) for w in weights]}
    else:
        main = "robust" if float(args.get("label_smoothing") or 0) > 0 else "sigmoid"
        if rpo_alpha > 0:
            weights = [float(w) for w in args.get("loss_weights") or [1.0]] + [rpo_alpha]
            losses = {"loss_type": [main, "sft"], "loss_weights": weights}
        else:
            losses = {"loss_type": [main], "loss_weights": args.get("loss_weights")}
    # the template already enforced --max_length (and dropped or cut longer rows): no second truncation
    return {**_common(args), **losses, "max_length": None}


def kto_config(args: Any) -> dict:
    # the KL term pairs neighbours of a fixed-order batch: trl requires sequential sampling
    return {**_common(args), "loss_type": "kto", "max_length": None, "train_sampling_strategy": "sequential"}


def cpo_config(args: Any) -> dict:
    # rows arrive encoded: trl's own tokenizing map only passes them through, in this process
    return {
        **_common(args),
        "loss_type": "sigmoid",
        "max_length": args.get("max_length") or 1 << 20,
        "dataset_num_proc": None,
    }


def simpo_config(args: Any) -> dict:
    return {**cpo_config(args), "loss_type": "simpo"}


def orpo_config(args: Any) -> dict:
    return {**_common(args), "max_length": args.get("max_length") or 1 << 20, "dataset_num_proc": None}


def rm_config(args: Any) -> dict:
    return {**_common(args), "max_length": None}


def gkd_config(args: Any) -> dict:
    """trl's GKDConfig (an SFTConfig): our rows arrive encoded and batched by our collator, so trl prepares no
    dataset; ``max_completion_length`` is its ``max_new_tokens``; the loss is GKD's own (no sft loss_type)."""
    return {
        **_common(args),
        "max_new_tokens": int(args.max_completion_length),
        "teacher_model_name_or_path": None,
        "dataset_kwargs": {"skip_prepare_dataset": True},
        "max_length": None,
        "packing": False,
        "padding_free": False,
        "loss_type": "nll",
        "dataset_num_proc": None,
    }


def ppo_config(args: Any) -> dict:
    # the page's response_length etc. are same-named PPOConfig fields; the stop token is the template's EOS
    return {**_common(args), "stop_token": "eos"}
