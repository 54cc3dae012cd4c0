"""Every hook of swift-kernel, typed and documented: this module is the hook reference.

Two families of hooks:

* **Registration hooks** ``register_<kind>(register)``.  The host calls each plugin's
  implementation once, on its own, with a ``register(name, obj, **options)`` callable, so every
  entry records the plugin that made it; :data:`REGISTER_OPTIONS` lists the options of each kind
  (most take none), and an unknown option is an error.  ``obj`` may be the object itself or a lazy reference
  ``"package.module:attribute"`` resolved on first use, so that a plugin module imports nothing
  heavy at its top.  A name another plugin already holds makes the later plugin faulty (it is skipped, see
  :mod:`swiftk.host`), unless it is a plugin file overriding an installed plugin.
* **Pipeline hooks**, called by the kernel's pipelines at fixed points of a run, in plugin
  registration order (last registered first, pluggy's order); their return values are ignored.

* **Provider hooks** (``firstresult``): the kernel asks for a service it does not implement (the
  model type of a folder, a hub download, loading a model, dataset loading and encoding, the
  template engine) and takes the first non-``None`` answer.  swift-plugin-models and
  swift-plugin-datasets answer them; a third party replaces one by implementing the same hook with
  ``@swiftk.hookimpl(tryfirst=True)``.

``docs/plugins.md`` has one section per hook with an example; ``tests/test_docs.py`` fails when a
hook here lacks a section there or a test that exercises it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import pluggy

if TYPE_CHECKING:  # only for type checkers: the kernel never imports these at run time here
    from swiftk.arguments.parser import Arguments

hookspec = pluggy.HookspecMarker("swiftk")

#: ``register(name, obj, **meta)``: adds ``obj`` under ``name`` to one registry.
Register = Callable[..., None]

#: The registry kinds, one per registration hook (``register_<kind>``), in documentation order: how each
#: is named in messages, and the flag that selects it (if any).
KIND_LABELS: dict[str, tuple[str, Optional[str]]] = {
    "models": ("model type", "--model_type"),
    "templates": ("template", "--template"),
    "agent_templates": ("tools prompt", "--tools_prompt"),
    "datasets": ("dataset", "--dataset"),
    "tuners": ("train type", "--train_type"),
    "trainers": ("trainer", "--rlhf_type"),
    "losses": ("loss type", "--loss_type"),
    "loss_scales": ("loss scale", "--loss_scale"),
    "metrics": ("metric", "--metric"),
    "rewards": ("reward function", "--reward_funcs"),
    "optimizers": ("optimizer", "--optimizer"),
    "callbacks": ("callback", None),
    "infer_engines": ("inference backend", "--infer_backend"),
    "quantizers": ("quantization method", "--quant_method"),
    "eval_backends": ("evaluation backend", "--eval_backend"),
    "samplers": ("sampler", "--sampler_type"),
    "commands": ("command", None),
    "arguments": ("argument group", None),
}
REGISTRY_KINDS = tuple(KIND_LABELS)

#: The keyword options ``register(name, obj, **options)`` takes, per kind; any other keyword is an
#: error naming the plugin (a misspelt option must not be ignored).  Kinds not listed take none.
REGISTER_OPTIONS: dict[str, dict[str, str]] = {
    "rewards": {"reward_type": "'orm' (an outcome reward, the default) or 'prm' (a process reward)"},
    "metrics": {
        "score_texts": "score_texts(predictions, references) -> dict[str, float]: the same metric on "
        "answer texts, as `swiftk infer --metric` scores a dataset's answers"
    },
    "callbacks": {
        "when": "when(args) -> bool: the runs the callback applies to (default: every run)",
        "takes_args": "True: the factory is called as factory(args), else factory()",
    },
    "commands": {
        "help": "one line shown by `swiftk --help` without importing the command",
        "arguments": "argument dataclasses the kernel parses for a new command",
    },
    "arguments": {"commands": "the commands (or '*') whose parser gets this group"},
}


# --- registration hooks ------------------------------------------------------------------


@hookspec
def register_models(register: Register) -> None:
    """Register model types (``--model_type``).

    ``register(model_type, meta)`` where ``meta`` is a :class:`swiftk.specs.ModelMeta` (or a lazy
    reference to one).  ``ModelMeta.architectures`` lets ``--model`` folders be recognised
    from their ``config.json``.
    """


@hookspec
def register_templates(register: Register) -> None:
    """Register chat templates (``--template``).

    ``register(template_type, meta)``, ``meta`` a :class:`swiftk.specs.TemplateMeta` or a lazy
    reference to a template class.
    """


@hookspec
def register_agent_templates(register: Register) -> None:
    """Register agent (tool-calling) prompt formats (``--tools_prompt``).

    ``register(name, obj)``, ``obj`` a class or callable that renders ``tools`` into the system
    prompt and parses tool calls out of a response.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register named datasets (``--dataset NAME``).

    ``register(dataset_id, meta)``, ``meta`` a :class:`swiftk.specs.DatasetMeta` (local path or
    hub ids, subsets, split, preprocessing function, tags).
    """


@hookspec
def register_tuners(register: Register) -> None:
    """Register tuners (``--train_type``).

    ``register(train_type, spec)``, ``spec`` a :class:`swiftk.specs.TunerSpec` whose ``prepare``
    wraps a loaded model for training and whose ``load`` restores a saved adapter.
    """


@hookspec
def register_trainers(register: Register) -> None:
    """Register trainers (the ``sft``/``pt`` trainer, ``--rlhf_type`` values).

    ``register(name, spec)``, ``spec`` a :class:`swiftk.specs.TrainerSpec` or a lazy reference to a
    ``transformers.Trainer`` subclass.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register loss functions (``--loss_type``).

    ``register(name, fn)``, ``fn(outputs, labels, loss_scale=None, num_items_in_batch=None) -> Tensor``.
    """


@hookspec
def register_loss_scales(register: Register) -> None:
    """Register loss-scale strategies (``--loss_scale``): per-token weights of a conversation.

    ``register(name, obj)``, ``obj`` a class or callable mapping a conversation's turns to weights.
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register evaluation metrics (``--metric``).

    ``register(name, factory)``, ``factory(args, tokenizer)`` returning
    ``compute_metrics(eval_prediction) -> dict[str, float]`` as the Trainer takes it.
    """


@hookspec
def register_rewards(register: Register) -> None:
    """Register reward functions (``--reward_funcs``), outcome (ORM) or process (PRM) rewards.

    ``register(name, fn)``, ``fn(completions, **dataset_columns) -> list[float]``; a class is
    instantiated once (:func:`swiftk.rewards.build_reward`) and its instance called: each parameter of
    its ``__init__`` named ``args`` (all the run's arguments), ``tokenizer``, or like one of the run's
    arguments (``cosine_max_len``, ...) is passed by name; any other parameter needs a default.
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizer factories (``--optimizer``).

    ``register(name, factory)``, ``factory(args, model, dataset) -> (optimizer, lr_scheduler)``;
    either may be ``None`` to let the Trainer create it.
    """


@hookspec
def register_callbacks(register: Register) -> None:
    """Register ``transformers.TrainerCallback`` classes added to every training run.

    ``register(name, callback_cls_or_factory, *, when=None, takes_args=False)``; ``when(args) -> bool``
    (optional) decides whether the callback applies to a run; with ``takes_args=True`` the factory is
    called as ``factory(args)``, else ``factory()``.
    """


@hookspec
def register_infer_engines(register: Register) -> None:
    """Register inference engines (``--infer_backend``).

    ``register(name, spec)``, ``spec`` a :class:`swiftk.specs.EngineSpec` or a lazy reference to
    an engine class implementing batched and streaming chat generation.
    """


@hookspec
def register_quantizers(register: Register) -> None:
    """Register quantization methods (``--quant_method``).

    ``register(name, spec)``, ``spec`` a :class:`swiftk.specs.QuantizerSpec`: ``load_config`` and/or
    ``after_load`` quantize a model as it is loaded (sft, infer, deploy, rlhf: QLoRA), ``export``
    writes a quantized copy (``swiftk export --quant_method NAME``).
    """


@hookspec
def register_eval_backends(register: Register) -> None:
    """Register evaluation backends (``--eval_backend``) for ``swiftk eval`` (swift-plugin-eval).

    ``register(name, EvalBackendSpec(run=..., check=...))``: ``check(args)`` before any model loads;
    ``run(args, *, base_url, model, output_dir) -> {dataset: {metric: score}}`` against the served model
    (:class:`swiftk.specs.EvalBackendSpec`; a bare callable is ``run``).
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Register sampling strategies (``--sampler_type``) for ``swiftk sample`` (swift-plugin-sample).

    ``register(name, sampler_cls)``: ``sampler_cls(context)`` gets a :class:`swiftk.specs.SampleContext`
    (the engine, the sampling config, the ORM/PRM scorers, the cache) once per run, and its
    ``sample(rows) -> list[dict]`` turns each batch of dataset rows into output lines.
    """


@hookspec
def register_commands(register: Register) -> None:
    """Register ``swiftk`` sub-commands, or the implementation of a built-in one.

    For a built-in command (``sft``, ``pt``, ``rlhf``, ``infer``, ``deploy``, ``app``, ``web-ui``,
    ``eval``, ``export``, ``sample``, ``merge-lora``) the kernel parses the arguments and calls
    ``register(name, run)`` 's ``run(args) -> int | None`` with the resolved
    :class:`swiftk.arguments.parser.Arguments`.  For a new command, ``obj`` is a
    ``click.Command`` (or a lazy reference to one): ``register(name, obj, *, help="", arguments=())``; ``help`` is shown by
    ``swiftk --help`` without importing it; with ``arguments=[DataclassA, ...]`` the kernel parses
    those argument groups instead and calls ``obj(args)``.
    """


@hookspec
def register_arguments(register: Register) -> None:
    """Add argument groups (dataclasses of :func:`swiftk.arguments.fields.arg` fields).

    ``register(name, dataclass_cls, *, commands=("sft", ...))``: the group's arguments are accepted
    by those commands, shown in their ``--help`` and saved in ``args.json``.  A name the kernel
    already defines is an error.
    """


# --- provider hooks ----------------------------------------------------------------------


@hookspec(firstresult=True)
def resolve_model_type(model_dir: str, config: dict[str, Any]) -> Optional[str]:
    """Return the ``model_type`` of the model folder ``model_dir`` (``config`` is its config.json),
    or ``None`` to let other plugins and the architecture table decide.  The first answer wins.
    """


@hookspec(firstresult=True)
def download_model(model_id: str, args: "Arguments") -> Optional[str]:
    """Return the local folder of hub id ``model_id`` (``--model`` that is no folder), downloaded as
    ``args`` say (``--use_hf``, ``--model_revision``, ``--hub_token``), or ``None``.  swift-plugin-models
    implements it (ModelScope, or the Hugging Face Hub with ``--use_hf true``).
    """


@hookspec(firstresult=True)
def upload_model(folder: str, args: "Arguments") -> Optional[str]:
    """Upload ``folder`` (an exported, merged or adapter folder) to the hub repository
    ``--hub_model_id`` as ``args`` say (``--use_hf``, ``--hub_private_repo``, ``--commit_message``,
    ``--hub_token`` or the stored login) and return the repository's URL, or ``None`` to leave it to
    another plugin.  ``swiftk export --push_to_hub true`` asks for it; swift-plugin-models implements it
    (ModelScope, or the Hugging Face Hub with ``--use_hf true``).
    """


@hookspec(firstresult=True)
def load_model(args: "Arguments", model_info: Any, load_weights: bool) -> Optional[tuple[Any, Any]]:
    """Return ``(model, processor)`` for the resolved ``model_info`` (a
    :class:`swiftk.pipelines.model.ModelInfo`: folder, model type and its ``ModelMeta``, dtype, task
    type), loaded as the arguments say (``--torch_dtype``, ``--attn_impl``, ``--device_map``,
    ``--quant_method``, ...); ``model`` is ``None`` when ``load_weights`` is false (the tokenizer
    only).  Or ``None`` to leave it to another plugin.  swift-plugin-models implements it; the kernel
    then sets a missing pad token and calls ``post_model_load``.
    """


@hookspec(firstresult=True)
def load_datasets(args: "Arguments") -> Optional[tuple[Any, Optional[Any]]]:
    """Return ``(train_dataset, val_dataset or None)`` for ``--dataset``/``--val_dataset`` and the data
    arguments, as standard rows (see :func:`swiftk.pipelines.data.load_datasets`), or ``None`` to leave
    it to another plugin.  swift-plugin-datasets implements it.
    """


@hookspec(firstresult=True)
def encode_dataset(dataset: Any, encode_fn: Callable[[dict], dict], options: dict[str, Any]) -> Optional[Any]:
    """Return ``dataset`` with ``encode_fn(row) -> dict`` applied to every row, or ``None``.

    ``options``: ``num_proc``, ``lazy``, ``strict``, ``load_from_cache_file``, ``cache_file_name``,
    ``desc`` (see :func:`swiftk.pipelines.data.encode_dataset`).  swift-plugin-datasets implements it.
    """


@hookspec(firstresult=True)
def template_engine() -> Optional[type]:
    """Return the template class that encodes conversations for a registered
    :class:`swiftk.specs.TemplateMeta` naming no ``template_cls`` (ms-swift style registrations):
    ``cls(processor, meta, **options)``.  swift-plugin-models implements it.
    """


@hookspec
def mswift_facade() -> Optional[dict[str, Any]]:
    """Return extra names (``{"AlpacaPreprocessor": cls, ...}``) that the ms-swift compatibility
    facade's ``swift.llm`` module offers to files loaded with ``--custom_register_path`` /
    ``--external_plugins``.  Every plugin's answer is merged.

    Two names stand for ms-swift calls that take a command's options as keywords; the facade maps
    those keywords to the command's arguments and hands the resolved arguments on: ``PtEngine`` is
    an object with ``from_args(args)`` (``swiftk infer``'s arguments) returning the engine, and
    ``load_dataset`` a function ``load_dataset(args) -> (train, val)`` (``swiftk sft``'s arguments).
    """


# --- pipeline hooks ----------------------------------------------------------------------


@hookspec
def post_args_parse(command: str, args: "Arguments") -> None:
    """Called once the arguments of ``command`` are parsed and derived, before it runs.

    A plugin may check or adjust ``args`` (raise :class:`swiftk.errors.UsageError` to refuse).
    """


@hookspec
def post_model_load(args: "Arguments", model: Any, processor: Any) -> None:
    """Called after the model and its tokenizer/processor are loaded, before any tuner wraps it."""


@hookspec
def post_trainer_create(args: "Arguments", trainer: Any) -> None:
    """Called with the ready ``transformers.Trainer`` just before ``trainer.train()``."""


@hookspec
def train_end(args: "Arguments", trainer: Any, output_dir: str) -> None:
    """Called after training finished and the final model was saved in ``output_dir``."""
