"""``swiftk sft``, ``swiftk pt`` and ``swiftk rlhf``: one recipe, read top to bottom.

trainer spec → model and template → data, encoded for that trainer → tuner → reference model → trainer →
train → save.  Every step is a registry look-up or a hook, so plugins decide the model types,
templates, datasets, tuner and trainer; what differs between sft, pt, dpo, kto, rm, ppo, grpo or a
plugin's own ``--rlhf_type`` lives in that trainer's :class:`swiftk.specs.TrainerSpec`
(``prepare_args``, ``encode``, ``ref_model``, ``config_kwargs``, ``data_kind``); nothing here names a type.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional

from swiftk.errors import UsageError
from swiftk.registry import load_reference


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


#: ``--task_type`` values that ``swiftk sft`` trains with the trainer registered under the same name.
TASK_TRAINERS = ("embedding", "reranker", "generative_reranker")


def trainer_name(args: Any) -> str:
    """The registered trainer of this command: ``--rlhf_type`` for rlhf; for sft the ``--task_type`` when it is
    one of :data:`TASK_TRAINERS` (whose trainer refuses pt); ``pt`` (when a plugin registers one) or ``sft`` for pt and sft."""
    from swiftk.host import get_host

    if args.command == "rlhf":
        return args.rlhf_type
    if args.command in ("sft", "pt") and args.get("task_type") in TASK_TRAINERS:
        return args.task_type  # embedding, reranker, generative_reranker: swift-plugin-embedding's trainers
    return "pt" if args.command == "pt" and "pt" in get_host().registry("trainers") else "sft"


def build_trainer(args: Any) -> Any:
    """Steps 1 to 5: the model, template, data, tuner, reference model and trainer that ``args`` describe."""
    from swiftk import run_record
    from swiftk.host import get_host
    from swiftk.pipelines.data import encode_dataset, load_datasets
    from swiftk.pipelines.model import get_template, load_model_and_processor, template_name
    from swiftk.pipelines.rlhf import load_reference_model
    from swiftk.pipelines.sample_log import log_first_sample
    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk.specs import TrainerSpec

    host = get_host()
    # the trainer and tuner first: a missing plugin is named before anything heavy is loaded
    name = trainer_name(args)
    if name in TASK_TRAINERS and name not in host.registry("trainers"):
        from swiftk.errors import MissingPluginError
        from swiftk.hints import PROVIDERS

        provider = PROVIDERS["trainers"].get(name, "the plugin that registers it")
        raise MissingPluginError(
            f"--task_type {name}: no loaded plugin trains it (a trainer named '{name}'): pip install {provider}, "
            f"or check SWIFTK_DISABLE_PLUGIN_AUTOLOAD, SWIFTK_LOAD_PLUGINS, SWIFTK_DISABLED_PLUGINS",
            provider,
        )
    spec = host.get("trainers", name)
    spec = spec if isinstance(spec, TrainerSpec) else TrainerSpec(trainer_cls=spec)  # a bare trainer class too
    tuner = host.get("tuners", args.train_type)
    if spec.prepare_args is not None:
        load_reference(spec.prepare_args)(args)
        run_record.save_args(args)  # args.json records what the type completed (rm: task_type seq_cls)
    check_resume_folder(args.get("resume_from_checkpoint"))
    from transformers import set_seed

    set_seed(args.seed)

    check_before_loading(args)

    # 1. the model, its processor and the template that turns conversations into tokens
    model, processor, model_info = load_model_and_processor(args)
    template = get_template(args, processor, model_info, mode="pt" if args.command == "pt" else "train")
    run_record.record_model(args, model_info)
    run_record.record_template(args, template, template_name(args, model_info))

    # 2. the data, as standard rows, encoded into what this trainer reads (now, or lazily in __getitem__:
    #    multimodal rows by default when the template's own encoder is used)
    if "cached_dataset" in args and (args.get("cached_dataset") or args.get("cached_val_dataset")):
        # tokenized in advance by `swiftk export --to_cached_dataset true`, checked to match this run's encoding
        from swiftk.pipelines.cached_data import encoder_of, load_cached_datasets, signature

        if name in ("grpo", "ppo", "gkd"):
            raise UsageError(f"--cached_dataset: --rlhf_type {name} generates from prompts; train it from --dataset")
        if args.command == "rlhf" and name not in ("dpo", "kto"):
            raise UsageError(
                f"--cached_dataset: --template_mode rlhf encodes pairs as --rlhf_type dpo does (kto: as kto); "
                f"--rlhf_type {name} encodes them its own way: train it from --dataset"
            )
        if model_info.task_type != "causal_lm" or model_info.is_multimodal:
            raise UsageError(
                f"--cached_dataset: tokenized datasets train causal language models on text here; "
                f"{model_info.model_type} ({model_info.task_type}) trains from --dataset"
            )
        expected = signature(
            args, model_info, template_name(args, model_info), encoder_of(spec), getattr(template, "mode", "train")
        )
        train_dataset, val_dataset = load_cached_datasets(args, expected)
    else:
        train_dataset, val_dataset = load_datasets(args)
        if model_info.task_type == "seq_cls":
            set_problem_type(args, model, template, model_info, train_dataset)
        lazy = args.get("lazy_tokenize")
        lazy = bool(model_info.is_multimodal and spec.encode is None) if lazy is None else bool(lazy)
        encode = dict(num_proc=args.dataset_num_proc, lazy=lazy, strict=args.strict)
        make_encoder = (
            load_reference(spec.encode)
            if spec.encode is not None
            else (lambda template, args, dataset: template.encode)
        )
        train_dataset = encode_dataset(train_dataset, make_encoder(template, args, train_dataset), **encode)
        if val_dataset is not None:
            val_dataset = encode_dataset(val_dataset, make_encoder(template, args, val_dataset), **encode)
    log_first_sample(train_dataset, template)

    # 3. the tuner wraps the model (lora, full, ... : whatever --train_type names)
    model = load_reference(tuner.prepare)(model, args)
    run_record.record_tuner(args, model)
    run_record.record_plugins(args, trainer=name)
    run_record.save_args(args)  # args.json (and so every checkpoint) says what this run resolved

    # 4. the frozen reference model, when the type has one: --ref_model if given; else the model itself
    #    with its adapters disabled (peft tuners), or a second copy of --model (full and other tuners)
    ref_model = None
    wants_ref = (
        load_reference(spec.ref_model)(args)
        if isinstance(spec.ref_model, str) or callable(spec.ref_model)
        else bool(spec.ref_model)
    )
    if wants_ref and (args.get("ref_model") or not callable(getattr(model, "disable_adapter", None))):
        ref_model = load_reference_model(args)

    # 5. the trainer, its arguments (a trl config for preference and RL types) and every registered
    #    callback that applies
    config_cls = load_reference(spec.args_cls) if spec.args_cls else None
    overrides = dict(load_reference(spec.config_kwargs)(args)) if spec.config_kwargs is not None else {}
    training_args = to_training_arguments(args, config_cls, has_eval=val_dataset is not None, **overrides)
    extra = {"ref_model": ref_model} if spec.ref_model else {}  # a predicate's type takes ref_model= too
    trainer = load_reference(spec.trainer_cls)(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=val_dataset,
        data_collator=template.data_collator if spec.data_kind == "messages" else None,
        processing_class=processor,
        template=template,
        swift_args=args,
        callbacks=registered_callbacks(args),
        **extra,
    )
    host.hook.post_trainer_create(args=args, trainer=trainer)
    return trainer


#: Set for the ranks of a training job whose launcher already ran :func:`check_before_loading`.
CHECKED_ENV = "SWIFTK_CHECKED_BEFORE_LAUNCH"


def check_before_loading(args: Any, world: Optional[int] = None, local: Optional[int] = None) -> None:
    """What can be refused from the arguments and the model's config alone: ``--fsdp`` without GPUs, and a job
    that cannot fit in memory (:mod:`swiftk.pipelines.memory`, which prints its estimate). The launcher runs it
    before torchrun (one line instead of one per rank), and the ranks it starts skip it."""
    from swiftk.pipelines.memory import preflight
    from swiftk.pipelines.model import resolve_model
    from swiftk.pipelines.train_args import check_fsdp_device

    if os.environ.get(CHECKED_ENV) == "1":
        return
    if args.get("fsdp"):
        check_fsdp_device(args.fsdp)
    preflight(args, resolve_model(args).config, world, local)


#: ``--problem_type`` values (ms-swift's, transformers' ``config.problem_type``).
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")


def set_problem_type(args: Any, model: Any, template: Any, model_info: Any, dataset: Any) -> str:
    """A classifier's problem type, on the model's config (its loss; saved in config.json), the template
    (how labels are encoded) and ``args`` (args.json, for adapters): ``--problem_type``, else the model's
    own, else regression for one label, multi-label when the data's ``label`` values are lists, else
    single-label (ms-swift's rule, with the data's form as ms-swift's later versions read it)."""
    import itertools

    labels = [row.get("label") for row in itertools.islice(iter(dataset), 1000) if isinstance(row, dict)]
    listed = next((label for label in labels if isinstance(label, (list, tuple))), None)
    problem = args.get("problem_type") or model_info.problem_type
    if not problem:
        if model_info.num_labels == 1:
            problem = "regression"
        else:
            problem = "multi_label_classification" if listed is not None else "single_label_classification"
    elif problem not in PROBLEM_TYPES:
        raise UsageError(f"--problem_type {problem}: valid: {', '.join(PROBLEM_TYPES)}")
    if listed is not None and problem != "multi_label_classification":
        raise UsageError(
            f"--problem_type {problem}: the data's label {listed} is a list (several labels per row); "
            f"use --problem_type multi_label_classification, or one label per row"
        )
    model.config.problem_type = problem
    template.problem_type = problem
    if "problem_type" in args:
        args.problem_type = problem
    return problem


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

        sys.stderr.write(
            f"swiftk: interrupted by {signal_name} after saving {output_dir}; "
            f"continue with --resume_from_checkpoint {output_dir}\n"
        )
        return 128 + int(getattr(signal, signal_name))
    return 0


def registered_callbacks(args: Any) -> list:
    """Instances of every ``register_callbacks`` entry whose ``when(args)`` holds."""
    from swiftk.host import get_host

    out = []
    for entry in get_host().registry("callbacks").entries():
        when = entry.meta.get("when")
        if when is not None and not load_reference(when)(args):
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
        raise UsageError(
            f"--resume_from_checkpoint: {path} is not a complete checkpoint "
            f"(no trainer_state.json); pick an earlier checkpoint-N folder"
        )
