"""``swiftk sft`` and ``swiftk pt``: arguments → model and template → data → tuner → trainer → save.

Every step is a registry look-up or a hook, so plugins decide the model types, templates,
datasets, tuner and trainer; this file only says in which order they meet.
"""
from __future__ import annotations

import os
from typing import Any

from swiftk.errors import UsageError


def run(args: Any) -> int:
    from swiftk.startup import startup_phase

    with startup_phase(args):  # imports, model, data and trainer: no garbage-collection passes over them
        trainer = build_trainer(args)
    # 5. train (resuming if asked), save the final model, report
    return train_and_finish(args, trainer)


def build_trainer(args: Any) -> Any:
    """Steps 1 to 4: the model, template, data, tuner and trainer that ``args`` describe."""
    from swiftk.host import get_host
    from swiftk import run_record
    from swiftk.pipelines.data import encode_dataset, load_datasets
    from swiftk.pipelines.model import get_template, load_model_and_processor, template_name
    from swiftk.pipelines.sample_log import log_first_sample
    from swiftk.pipelines.train_args import to_training_arguments

    host = get_host()
    # the trainer first: a missing plugin is named before anything heavy is loaded
    trainer_name = "pt" if args.command == "pt" and "pt" in host.registry("trainers") else "sft"
    spec = host.get("trainers", trainer_name)
    from transformers import set_seed

    set_seed(args.seed)
    check_resume_folder(args.get("resume_from_checkpoint"))

    # 1. the model, its processor and the template that turns conversations into tokens
    model, processor, model_info = load_model_and_processor(args)
    template = get_template(args, processor, model_info, mode="pt" if args.command == "pt" else "train")
    run_record.record_model(args, model_info)
    run_record.record_template(args, template, template_name(args, model_info))

    # 2. the data, as standard rows, then tokenized (now, or lazily in __getitem__)
    train_dataset, val_dataset = load_datasets(args)
    lazy = args.get("lazy_tokenize")
    lazy = bool(model_info.is_multimodal) if lazy is None else bool(lazy)
    encode = dict(num_proc=args.dataset_num_proc, lazy=lazy, strict=args.strict)
    train_dataset = encode_dataset(train_dataset, template.encode, **encode)
    if val_dataset is not None:
        val_dataset = encode_dataset(val_dataset, template.encode, **encode)
    log_first_sample(train_dataset, template)

    # 3. the tuner wraps the model (lora, full, ... : whatever --train_type names)
    tuner = host.get("tuners", args.train_type)
    model = _load(tuner.prepare)(model, args)
    run_record.record_tuner(args, model)
    run_record.record_plugins(args, trainer=trainer_name)
    run_record.save_args(args)  # args.json (and so every checkpoint) says what this run resolved

    # 4. the trainer, its arguments and every registered callback that applies
    trainer_cls = _load(spec.trainer_cls)
    training_args = to_training_arguments(args, _load(spec.args_cls) if spec.args_cls else None,
                                          has_eval=val_dataset is not None)
    trainer = trainer_cls(model=model, args=training_args, train_dataset=train_dataset, eval_dataset=val_dataset,
                          data_collator=template.data_collator, processing_class=processor,
                          template=template, swift_args=args, callbacks=registered_callbacks(args))
    host.hook.post_trainer_create(args=args, trainer=trainer)
    return trainer


def train_and_finish(args: Any, trainer: Any) -> int:
    """Train (resuming, or loading only the weights with ``--resume_only_model``), save, report."""
    from swiftk.host import get_host

    resume = args.get("resume_from_checkpoint")
    if resume and args.get("resume_only_model"):
        trainer._load_from_checkpoint(resume)  # the Trainer's own weight loading (full or adapter), nothing else
        resume = None
    trainer.train(resume_from_checkpoint=resume)
    output_dir = trainer.finish(args.output_dir) if hasattr(trainer, "finish") else args.output_dir
    get_host().hook.train_end(args=args, trainer=trainer, output_dir=output_dir)
    return 0


def registered_callbacks(args: Any) -> list:
    """Instances of every ``register_callbacks`` entry whose ``when(args)`` holds."""
    from swiftk.host import get_host

    out = []
    for entry in get_host().registry("callbacks").entries():
        when = entry.meta.get("when")
        if when is not None and not _load(when)(args):
            continue
        factory = entry.load()
        out.append(factory(args) if entry.meta.get("takes_args") else factory())
    return out


def check_resume_folder(path: Any) -> None:
    """``--resume_from_checkpoint`` must be a complete checkpoint folder."""
    if not path:
        return
    if not os.path.isdir(path):
        raise UsageError(f"--resume_from_checkpoint: no such folder: {path}")
    if not os.path.isfile(os.path.join(path, "trainer_state.json")):
        raise UsageError(f"--resume_from_checkpoint: {path} is not a complete checkpoint "
                         f"(no trainer_state.json); pick an earlier checkpoint-N folder")


def _load(ref: Any) -> Any:
    from swiftk.registry import is_lazy_reference, resolve_reference

    return resolve_reference(ref) if is_lazy_reference(ref) else ref
