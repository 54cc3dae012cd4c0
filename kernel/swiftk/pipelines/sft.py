"""``swiftk sft`` and ``swiftk pt``: arguments → model and template → data → tuner → trainer → save.

Every step is a registry look-up or a hook, so plugins decide the model types, templates,
datasets, tuner and trainer; this file only says in which order they meet.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from swiftk.errors import UsageError


def run(args: Any) -> int:
    return run_training(args, build_trainer)


def run_training(args: Any, build: Callable[[Any], Any]) -> int:
    """Build the trainer with ``build(args)``, train, save, report: the whole of a training command, with
    the run folder held (:func:`swiftk.io.hold_run_lock`), SIGTERM unwinding as Ctrl-C, and a
    ``vN-<time>`` folder that never reached step 1 removed."""
    from swiftk.io import discard_unstarted_run, hold_run_lock, release_run_lock
    from swiftk.run_record import is_main_process
    from swiftk.signals import sigterm_as_interrupt
    from swiftk.startup import startup_phase

    output_dir = args.get("output_dir") if is_main_process() else None
    if output_dir:
        hold_run_lock(output_dir)  # this run's folder while it runs (see swiftk.io)
    trainer = None
    try:
        with sigterm_as_interrupt():  # SIGTERM unwinds as Ctrl-C: no half-written files, exit status 143
            with startup_phase(args):  # imports, model, data and trainer: no garbage-collection passes over them
                trainer = build(args)
            # train (resuming if asked), save the final model, report
            return train_and_finish(args, trainer)
    except BaseException:
        if output_dir and (trainer is None or trainer.state.global_step == 0):
            discard_unstarted_run(output_dir)  # a vN-<time> folder with nothing but args.json is no run
        raise
    finally:
        if output_dir:
            release_run_lock(output_dir)


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
    from swiftk.io import release_run_lock
    from swiftk.signals import sigterm_as_interrupt

    resume = args.get("resume_from_checkpoint")
    if resume and args.get("resume_only_model"):
        trainer._load_from_checkpoint(resume)  # the Trainer's own weight loading (full or adapter), nothing else
        resume = None
    try:
        with sigterm_as_interrupt():  # (also for pipelines that reach here without run_training above)
            trainer.train(resume_from_checkpoint=resume)
            output_dir = trainer.finish(args.output_dir) if hasattr(trainer, "finish") else args.output_dir
            get_host().hook.train_end(args=args, trainer=trainer, output_dir=output_dir)
    finally:
        release_run_lock(args.output_dir)  # taken by the trainer (or run() above); the folder is no longer written
    signal_name = getattr(trainer, "interrupted_by", None)  # --enable_jit_checkpoint saved, then stopped
    if signal_name:
        import signal
        import sys

        sys.stderr.write(f"swiftk: interrupted by {signal_name} after saving {output_dir}; "
                         f"continue with --resume_from_checkpoint {output_dir}\n")
        return 128 + int(getattr(signal, signal_name))
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
    from swiftk.registry import load_reference

    return load_reference(ref)
