"""``swiftk rlhf``: the trainer of ``--rlhf_type`` → model and template → data, encoded for that
trainer → tuner → reference model → trainer → train → save.

Read it like ``pipelines/sft.py``: every step is a registry look-up or a hook.  What differs
between dpo, kto, rm, ppo, grpo or a plugin's own type lives in that type's
:class:`swiftk.specs.TrainerSpec` (``prepare_args``, ``config_kwargs``, ``encode``, ``ref_model``);
nothing here names a type.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from swiftk.errors import UsageError


def run(args: Any) -> int:
    from swiftk.pipelines.sft import run_training

    # steps 1 to 5 below, then 6. train (resuming if asked), save the final model, report
    return run_training(args, build_trainer)


def build_trainer(args: Any) -> Any:
    """Steps 1 to 5: the model, template, data, tuner, reference model and trainer of ``--rlhf_type``."""
    from swiftk import run_record
    from swiftk.host import get_host
    from swiftk.pipelines.data import encode_dataset, load_datasets
    from swiftk.pipelines.model import get_template, load_model_and_processor, template_name
    from swiftk.pipelines.sample_log import log_first_sample
    from swiftk.pipelines.sft import _load, check_resume_folder, registered_callbacks
    from swiftk.pipelines.train_args import to_training_arguments

    host = get_host()
    # the trainer first: a missing plugin (swift-plugin-rlhf, swift-plugin-grpo) is named before anything heavy loads
    spec = trainer_spec(host.get("trainers", args.rlhf_type))
    tuner = host.get("tuners", args.train_type)
    if spec.prepare_args is not None:
        _load(spec.prepare_args)(args)
        run_record.save_args(args)   # args.json records what the type completed (rm: task_type seq_cls)
    check_resume_folder(args.get("resume_from_checkpoint"))
    from transformers import set_seed

    set_seed(args.seed)

    # 1. the model, its processor and the template that turns conversations into tokens
    model, processor, model_info = load_model_and_processor(args)
    template = get_template(args, processor, model_info, mode="train")
    run_record.record_model(args, model_info)
    run_record.record_template(args, template, template_name(args, model_info))

    # 2. the data, as standard rows, encoded into what this type's trainer reads
    train_dataset, val_dataset = load_datasets(args)
    lazy = bool(args.get("lazy_tokenize"))
    encode = dict(num_proc=args.dataset_num_proc, lazy=lazy, strict=args.strict)
    make_encoder = _load(spec.encode) if spec.encode is not None else (lambda template, args, dataset: template.encode)
    train_dataset = encode_dataset(train_dataset, make_encoder(template, args, train_dataset), **encode)
    if val_dataset is not None:
        val_dataset = encode_dataset(val_dataset, make_encoder(template, args, val_dataset), **encode)
    log_first_sample(train_dataset, template)

    # 3. the tuner wraps the model (lora, full, ... : whatever --train_type names)
    model = _load(tuner.prepare)(model, args)
    run_record.record_tuner(args, model)
    run_record.record_plugins(args, trainer=args.rlhf_type)
    run_record.save_args(args)  # args.json (and so every checkpoint) says what this run resolved

    # 4. the frozen reference model, when the type has one: --ref_model if given; else the model itself
    #    with its adapters disabled (peft tuners), or a second copy of --model (full and other tuners)
    ref_model = None
    wants_ref = _load(spec.ref_model)(args) if isinstance(spec.ref_model, str) or callable(spec.ref_model) \
        else bool(spec.ref_model)
    if wants_ref and (args.get("ref_model") or not callable(getattr(model, "disable_adapter", None))):
        ref_model = load_reference_model(args)

    # 5. the trainer, its trl config and every registered callback that applies
    config_cls = _load(spec.args_cls) if spec.args_cls else None
    overrides = dict(_load(spec.config_kwargs)(args)) if spec.config_kwargs is not None else {}
    training_args = to_training_arguments(args, config_cls, has_eval=val_dataset is not None, **overrides)
    extra = {"ref_model": ref_model} if spec.ref_model else {}  # a predicate's type takes ref_model= too
    trainer = _load(spec.trainer_cls)(
        model=model, args=training_args, train_dataset=train_dataset, eval_dataset=val_dataset,
        data_collator=template.data_collator if spec.data_kind == "messages" else None,
        processing_class=processor, template=template, swift_args=args, callbacks=registered_callbacks(args),
        **extra)
    host.hook.post_trainer_create(args=args, trainer=trainer)
    return trainer


def trainer_spec(entry: Any) -> Any:
    """A registered trainer as a :class:`TrainerSpec` (a bare trainer class is accepted too)."""
    from swiftk.specs import TrainerSpec

    return entry if isinstance(entry, TrainerSpec) else TrainerSpec(trainer_cls=entry)


def derived_args(args: Any, **values: Any) -> Any:
    """A copy of ``args`` with some values replaced (to load a reference or reward model)."""
    from swiftk.arguments.parser import Arguments

    return Arguments(args.command, {**args._values, **values}, set(args.explicit), args.parser, args.given)


def load_reference_model(args: Any) -> Any:
    """``--ref_model`` (``--ref_model_type``, ``--ref_model_revision``), else ``--model`` again, frozen."""
    from swiftk.pipelines.model import load_model_and_processor

    if args.get("ref_model"):
        from swiftk.arguments.load_args import adapter_base, is_adapter_folder
        from swiftk.pipelines.export import apply_adapters

        ref_model_path, ref_type, adapters = args.ref_model, args.get("ref_model_type"), []
        if is_adapter_folder(ref_model_path):  # an adapter checkpoint: its base model with the adapter merged
            ref_model_path, saved = adapter_base(args.ref_model, "--ref_model")
            ref_type, adapters = ref_type or saved.get("model_type"), [args.ref_model]
            print(f"[swiftk] --ref_model {args.ref_model} is an adapter checkpoint: loading its base model "
                  f"{ref_model_path} with that adapter merged")
        ref_args = derived_args(args, model=ref_model_path, model_type=ref_type,
                                model_revision=args.get("ref_model_revision"), adapters=[])
        with renamed_flags("ref_"):
            ref_model, _, _ = load_model_and_processor(ref_args)
        ref_model = apply_adapters(ref_model, adapters, ref_args, merge=True)
    else:
        ref_model, _, _ = load_model_and_processor(derived_args(args, adapters=[]))
    ref_model.eval()
    for param in ref_model.parameters():
        param.requires_grad_(False)
    return ref_model


@contextlib.contextmanager
def renamed_flags(prefix: str) -> Iterator[None]:
    """Errors about ``--model``/``--model_type``/``--model_revision`` while loading a second model name the
    flags that model came from (``prefix`` "ref_": ``--ref_model``, ...)."""
    import re

    try:
        yield
    except UsageError as exc:
        message = re.sub(r"--model(_type|_revision)?\b", lambda m: f"--{prefix}model{m.group(1) or ''}", str(exc))
        raise UsageError(message) from None


def refuse_sft_only_arguments(args: Any) -> None:
    """What no preference or RL type supports: sft's loss functions, packing, lazy tokenization and
    generation during evaluation (a ``TrainerSpec.prepare_args`` calls it first)."""
    kind = args.rlhf_type
    if args.get("loss_type"):
        raise UsageError(f"--loss_type {args.loss_type}: sft loss functions do not apply to --rlhf_type {kind} "
                         f"(its loss is the algorithm's own); remove --loss_type")
    if args.get("packing"):
        raise UsageError(f"--packing true: not supported by --rlhf_type {kind} (pairs and prompts are not packed); "
                         f"remove --packing")
    if args.get("lazy_tokenize"):
        raise UsageError(f"--lazy_tokenize true: not supported by --rlhf_type {kind} (trl's trainers read an "
                         f"encoded datasets.Dataset); remove it")
    if args.get("predict_with_generate"):
        raise UsageError(f"--predict_with_generate true: not supported by --rlhf_type {kind} (evaluation reports "
                         f"the loss and reward metrics); remove it")
