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
``--rlhf_type cpo``     ``CPOConfig``: ``beta``, ``label_smoothing``, ``cpo_alpha``.
``--rlhf_type simpo``   ``CPOConfig`` with ``loss_type "simpo"``: ``beta`` (2.0), ``simpo_gamma``,
                        ``cpo_alpha``.
``--rlhf_type orpo``    ``ORPOConfig``: ``beta`` (ORPO's lambda).
``--rlhf_type kto``     ``KTOConfig``: ``beta``, ``desirable_weight``, ``undesirable_weight``.
``--rlhf_type rm``      ``RewardConfig``; the model loads with a one-label classification head.
``--rlhf_type ppo``     :class:`swiftk_rlhf.ppo.PPOConfig`: the page's PPO section one to one.
======================  =====================================================================
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError

PAIRWISE = ("dpo", "orpo", "simpo", "cpo", "rm")


def refuse_sft_only_arguments(args: Any) -> None:
    """What no preference or RL type supports: sft's loss functions, packing, lazy tokenization and
    generation during evaluation (a ``TrainerSpec.prepare_args`` calls it first)."""
    kind = args.rlhf_type
    if args.get("loss_type"):
        raise UsageError(
            f"--loss_type {args.loss_type}: sft loss functions do not apply to --rlhf_type {kind} "
            f"(its loss is the algorithm's own); remove --loss_type"
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


def prepare_dpo(args: Any) -> None:
    refuse_sft_only_arguments(args)
    if args.get("rpo_alpha") is not None and args.rpo_alpha < 0:
        raise UsageError(f"--rpo_alpha must be >= 0 (0 turns the SFT term off), got {args.rpo_alpha}")
    if not 0 <= float(args.get("label_smoothing") or 0) < 0.5:
        raise UsageError(f"--label_smoothing must be in [0, 0.5) for dpo, got {args.label_smoothing}")


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


# --- trl config values that are not same-named arguments ------------------------------------


def _common(args: Any) -> dict:
    # evaluation reports the trainer's own loss and reward metrics, never generated text
    return {"prediction_loss_only": True}


def dpo_config(args: Any) -> dict:
    rpo_alpha = float(args.get("rpo_alpha") or 0)
    main = "robust" if float(args.get("label_smoothing") or 0) > 0 else "sigmoid"
    losses = (
        {"loss_type": [main, "sft"], "loss_weights": [1.0, rpo_alpha]}
        if rpo_alpha > 0
        else {"loss_type": [main], "loss_weights": None}
    )
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


def ppo_config(args: Any) -> dict:
    # the page's response_length etc. are same-named PPOConfig fields; the stop token is the template's EOS
    return {**_common(args), "stop_token": "eos"}
