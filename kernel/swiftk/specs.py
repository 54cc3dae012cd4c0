"""The typed shapes plugins register.

Field names follow ms-swift 3.x (``ModelMeta``, ``TemplateMeta``, ``DatasetMeta``) so that
registration files written for ms-swift map onto them one to one.  Every spec accepts extra
keyword arguments in ``extra`` so that a newer ms-swift field never breaks a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

Ref = Union[str, Callable[..., Any], type]  # an object, or a lazy "module:attr" reference


@dataclass
class Model:
    """One checkpoint of a model family, by hub id or local path."""

    ms_model_id: Optional[str] = None
    hf_model_id: Optional[str] = None
    model_path: Optional[str] = None
    ms_revision: Optional[str] = None
    hf_revision: Optional[str] = None


@dataclass
class ModelGroup:
    """Checkpoints that share a loader and template."""

    models: list[Model]
    ignore_patterns: Optional[list[str]] = None
    requires: Optional[list[str]] = None
    tags: list[str] = field(default_factory=list)


@dataclass
class ModelMeta:
    """A ``model_type``: the architectures it covers, its default template and its loader.

    ``get_function(model_dir, model_info, model_kwargs, load_model=True, **kwargs)`` returns
    ``(model, processor)``; ``None`` means the generic ``AutoModelForCausalLM`` loader of the plugin answering
    the ``load_model`` hook (swift-plugin-models).
    """

    model_type: str
    model_groups: list[ModelGroup] = field(default_factory=list)
    template: Optional[str] = None
    get_function: Optional[Ref] = None
    model_arch: Optional[str] = None
    architectures: list[str] = field(default_factory=list)
    additional_saved_files: list[str] = field(default_factory=list)
    torch_dtype: Optional[str] = None
    is_multimodal: bool = False
    is_reward: bool = False
    task_type: Optional[str] = None
    ignore_patterns: Optional[list[str]] = None
    requires: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TemplateMeta:
    """A chat template in ms-swift's prefix/prompt/chat_sep/suffix form, or a template class."""

    template_type: str
    prefix: list[Any] = field(default_factory=list)
    prompt: list[Any] = field(default_factory=list)
    chat_sep: Optional[list[Any]] = None
    suffix: list[Any] = field(default_factory=lambda: [["eos_token_id"]])
    template_cls: Optional[Ref] = None
    system_prefix: Optional[list[Any]] = None
    default_system: Optional[str] = None
    response_prefix: str = ""
    auto_add_bos: bool = False
    stop_words: list[Any] = field(default_factory=list)
    agent_template: str = "react_en"
    is_thinking: bool = False
    thinking_prefix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class SubsetDataset:
    """A named subset of a registered dataset."""

    name: Optional[str] = None
    subset: str = "default"
    split: Optional[list[str]] = None
    preprocess_func: Optional[Ref] = None
    is_weak_subset: bool = False


@dataclass
class DatasetMeta:
    """A named dataset: where its rows come from and how they become ``messages`` rows."""

    ms_dataset_id: Optional[str] = None
    hf_dataset_id: Optional[str] = None
    dataset_path: Optional[str] = None
    dataset_name: Optional[str] = None
    ms_revision: Optional[str] = None
    hf_revision: Optional[str] = None
    subsets: list[Any] = field(default_factory=lambda: ["default"])
    split: list[str] = field(default_factory=lambda: ["train"])
    preprocess_func: Optional[Ref] = None
    remove_useless_columns: bool = True
    tags: list[str] = field(default_factory=list)
    help: Optional[str] = None
    huge_dataset: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> Optional[str]:
        """The name it is listed under (``--dataset`` also takes the registered name and each hub id)."""
        return self.dataset_name or self.ms_dataset_id or self.hf_dataset_id or self.dataset_path


@dataclass
class TunerSpec:
    """A ``train_type``: how to wrap a model for training, reload it and (maybe) merge it.

    ``prepare(model, args) -> model``; ``load(model, adapter_dir, args) -> model``;
    ``merge(model) -> model`` or ``None`` when the tuner cannot merge.
    """

    prepare: Ref
    load: Optional[Ref] = None
    merge: Optional[Ref] = None
    full_parameter: bool = False  # trains the model's own weights: learning_rate defaults to 1e-5 as for full


@dataclass
class TrainerSpec:
    """A trainer for ``sft``/``pt`` or an ``--rlhf_type``.

    ``trainer_cls`` is built as ``trainer_cls(model=, args=, train_dataset=, eval_dataset=,
    data_collator=, processing_class=, template=, swift_args=, callbacks=)`` (plus ``ref_model=``
    when ``ref_model`` is true) and, as a ``transformers.Trainer``, exposes the tuned model as
    ``.model`` (plugins' ``post_trainer_create`` hooks read it); ``args_cls`` is the
    ``TrainingArguments`` subclass (a trl config) it takes, filled from the same-named arguments.
    The optional fields below keep the one training recipe (:mod:`swiftk.pipelines.train`) generic;
    each is a callable or a lazy ``"module:attr"`` reference:

    - ``prepare_args(args)``: check (raise ``UsageError``) or complete the arguments before anything
      heavy loads (``rm`` sets ``task_type seq_cls``; ``ppo`` requires ``--reward_model``).  The
      pipeline rewrites ``args.json`` afterwards, so the saved arguments are the ones that ran.
    - ``config_kwargs(args) -> dict``: values for ``args_cls`` that are not same-named arguments
      (``rpo_alpha`` becomes DPO's ``loss_type``/``loss_weights``, ``simpo`` sets CPO's ``loss_type``).
    - ``encode(template, args, dataset) -> fn(row) -> dict``: what each standard row becomes for
      ``trainer_cls`` (default: ``template.encode``).  It may raise ``UsageError`` when ``dataset``
      lacks a column it needs; ``fn`` raises ``ValueError`` to drop one row.
    - ``ref_model``: the trainer takes ``ref_model=``, a frozen reference model.  The pipeline loads
      ``--ref_model`` when given; otherwise, when the tuned model cannot disable its adapters (full
      training, non-peft tuners), ``--model`` again; for a peft model it passes ``None`` and the
      trainer uses the model with its adapters disabled (the base model).  It may also be a
      predicate ``ref_model(args) -> bool`` (GRPO needs none with ``--beta 0``); the trainer then
      always takes ``ref_model=``, None when the predicate said no.
    """

    trainer_cls: Ref
    args_cls: Optional[Ref] = None
    data_kind: str = "messages"  # messages, preference, kto, prompt
    prepare_args: Optional[Ref] = None
    config_kwargs: Optional[Ref] = None
    encode: Optional[Ref] = None
    ref_model: Union[bool, Ref] = False


@dataclass
class EngineSpec:
    """An ``--infer_backend``: the engine class and the packages it needs."""

    engine_cls: Ref
    requires: list[str] = field(default_factory=list)
    needs_gpu: bool = False


@dataclass
class QuantizerSpec:
    """A ``--quant_method``: how a model is quantized as it loads, and/or exported quantized.

    ``load_config(args, torch_dtype) -> config | None``: a transformers quantization config, passed to
    ``from_pretrained`` as ``quantization_config``.  ``after_load(model, args, torch_dtype)``: quantizes
    the loaded model in place (libraries without a transformers config).
    ``check(args)``: refuses what the method cannot take (``--quant_bits``, a missing library) before
    anything loads or is written (``swiftk export`` calls it first).
    ``export(args, model_dir, output_dir)``: ``swiftk export --quant_method NAME``; ``model_dir`` is a
    folder holding the full-precision model (``--model``, or ``--adapters`` merged into it by the
    kernel), ``output_dir`` an empty folder to write the quantized model into (its ``config.json``
    carrying the ``quantization_config`` that ``from_pretrained`` reloads it with, and the weights); the
    kernel then adds what is missing of the tokenizer, chat template and generation config, writes
    ``args.json`` and moves the folder into place.  Each may be a lazy reference; each raises
    :class:`swiftk.api.UsageError` for values it cannot take (``--quant_bits``, no GPU) and
    :class:`swiftk.api.MissingPluginError` for a missing library.
    """

    load_config: Optional[Ref] = None
    after_load: Optional[Ref] = None
    export: Optional[Ref] = None
    check: Optional[Ref] = None


@dataclass
class EvalBackendSpec:
    """An ``--eval_backend`` for ``swiftk eval`` (swift-plugin-eval), which serves the model behind the
    OpenAI API (or takes ``--eval_url``) and hands the backend its address.

    ``check(args)``: refuses what the backend cannot evaluate (an unknown ``--eval_dataset``, missing
    data, a missing library) before any model loads.  ``run(args, *, base_url, model, output_dir) ->
    {dataset: {metric: score}}``: evaluates each ``--eval_dataset`` through ``base_url``
    (``http://HOST:PORT/v1``; ``args.api_key`` is its key) as the served ``model``, keeping what it wants
    inspected (prompts, predictions, reports) in ``output_dir``, the run's folder; each dataset's
    primary metric first.  Each may be a lazy reference; a bare callable registered instead is ``run``.
    """

    run: Ref
    check: Optional[Ref] = None


#: ``scorer(completions, rows) -> one float per completion``: ``rows[i]`` is the dataset row (its
#: ``messages`` up to the prompt, its ``solution`` and other columns) that ``completions[i]`` answers.
Scorer = Callable[[list, list], list]


@dataclass
class SampleContext:
    """What ``swiftk sample`` (swift-plugin-sample) hands a ``--sampler_type``.

    A sampler is a class registered with ``register_samplers``: ``sampler_cls(context)`` is built once
    per run, then ``sample(rows) -> list[dict]`` is called for each batch of dataset rows
    (``--num_sampling_per_gpu_batch_size``); each returned dict is written as one line of the output
    jsonl, best in a form ``swiftk sft``/``rlhf`` read (``messages``, ``rejected_response``).

    ``engine``: the ``--sampler_engine``'s :class:`swiftk.api.InferEngine` (None with ``no``);
    ``config``: the sampling :class:`swiftk.api.RequestConfig` (``--max_new_tokens``, ``--temperature``,
    ``--top_k``, ``--top_p``, ``--repetition_penalty``, ``--stop_words``); ``orm``/``prm``: the
    :data:`Scorer` of ``--orm_model``/``--prm_model``, or None when not given; ``cache``: row id ->
    completions read from ``--cache_files``; ``row_id(row)``: the id the cache and the output use (an md5
    of the original row); ``prompt(row)``: the conversation to continue (``--system`` applied, a final
    reference answer removed); ``continue_answer(row, partial)``: a request that continues an unfinished
    answer (the engine's template renders the prompt, so the model sees exactly its own text).
    """

    args: Any
    engine: Any
    config: Any
    orm: Optional[Scorer] = None
    prm: Optional[Scorer] = None
    cache: dict = field(default_factory=dict)
    row_id: Callable[[dict], str] = str
    prompt: Callable[[dict], list] = list
    continue_answer: Optional[Callable[[dict, str], Any]] = None
