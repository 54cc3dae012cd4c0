"""A small stand-in for ms-swift's ``swift`` package while an ms-swift file loads.

Registration files written for ms-swift 3.x do ``orms['name'] = MyORM`` or
``register_model(ModelMeta(...))`` at import time.  While such a file runs (and ms-swift
itself is not installed), these modules stand in for ``swift``, ``swift.plugin`` (with ms-swift
3.12's submodules ``swift.plugin.orm``, ``.prm``, ``.loss``, ...), ``swift.llm`` and
``swift.utils``, and every write is recorded as a registration of the file's plugin.

What swift-kernel lacks fails early, in one line naming the missing piece: an unknown name or
module raises ImportError; registering what swift-kernel cannot run (a multi-turn scheduler, a
reward-model plugin) raises where the file registers it.

The names that need a plugin come from the ``mswift_facade`` hook: swift-plugin-datasets' row
preprocessors and ``load_dataset``, swift-plugin-infer's ``PtEngine``, ``InferRequest`` and
``RequestConfig``.  ms-swift's ``PtEngine(model_id_or_path, ...)`` and ``load_dataset(datasets,
...)`` take what ``swiftk infer`` / ``swiftk sft`` take as flags: the facade turns their keyword
arguments into the command's resolved arguments and hands those to the plugin's object.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib.abc
import importlib.util
import inspect
import logging
import sys
import threading
import types
from typing import Any, Callable, Iterator, Optional

from swiftk import specs

FACADE_DOC = "ms-swift compatibility facade (swift-kernel)"

#: The ``swift.plugin`` mappings and the registry kind each feeds, with extra meta.
_PLUGIN_MAPPINGS = {
    "orms": ("rewards", {"reward_type": "orm"}),
    "prms": ("rewards", {"reward_type": "prm"}),
    "loss_mapping": ("losses", {}),
    "loss_scale_map": ("loss_scales", {}),
    "metric_mapping": ("metrics", {}),
    "optimizers_map": ("optimizers", {}),
    "extra_tuners": ("tuners", {}),
    "agent_templates": ("agent_templates", {}),
}

_MULTI_TURN = "multi-turn GRPO (rollout schedulers, environments and context managers) is not supported by swift-kernel"
_RM_PLUGIN = (
    "GRPO reward-model plugins (--reward_model_plugin) are not supported by swift-kernel; "
    "swiftk's --reward_model scores completions with the reward model's own head"
)
_LOSS_SCALE = (
    "ms-swift's LossScale classes have no equivalent: swift-kernel's loss scales weigh template segments "
    "(apply(segments) -> (segments, weights)); register one with the register_loss_scales hook (docs/plugins.md)"
)
_TUNER = (
    "ms-swift's Tuner classes (prepare_model/save_pretrained/from_pretrained) have no equivalent: register a "
    "TunerSpec with the register_tuners hook (docs/tuners.md)"
)
_METRIC = "ms-swift's metric helpers are not part of the facade; register a metric with the register_metrics hook"

#: Names of ms-swift 3.12 that swift-kernel does not offer, with the reason given when a file imports one.
_NOT_SUPPORTED = {
    "swift.plugin": {
        "get_loss_scale": _LOSS_SCALE,
        "Tuner": _TUNER,
        "PeftTuner": _TUNER,
        **dict.fromkeys(
            ["InferStats", "MeanMetric", "Metric", "compute_acc", "get_metric", "compute_rouge_bleu"], _METRIC
        ),
    },
    "swift.plugin.loss_scale": {"LossScale": _LOSS_SCALE, "get_loss_scale": _LOSS_SCALE},
    "swift.plugin.tuner": {"Tuner": _TUNER, "PeftTuner": _TUNER},
    "swift.plugin.metric": dict.fromkeys(
        ["InferStats", "MeanMetric", "Metric", "compute_acc", "get_metric", "compute_rouge_bleu"], _METRIC
    ),
    "swift.llm": {
        "RolloutInferRequest": _MULTI_TURN,
        "RolloutOutput": _MULTI_TURN,
    },
}

#: ``swift.llm`` names that plugins offer (``mswift_facade``), and the distribution of each.
_FROM_PLUGINS = {
    **dict.fromkeys(["PtEngine", "InferEngine", "InferRequest", "RequestConfig"], "swift-plugin-infer"),
    **dict.fromkeys(
        [
            "load_dataset",
            "RowPreprocessor",
            "ResponsePreprocessor",
            "AlpacaPreprocessor",
            "AutoPreprocessor",
            "MessagesPreprocessor",
        ],
        "swift-plugin-datasets",
    ),
}

#: ms-swift's built-in ORMs (``swift.plugin.orm``) and the swiftk reward that does the same.
_BUILTIN_ORMS = {
    "MathAccuracy": "accuracy",
    "Format": "format",
    "CosineReward": "cosine",
    "RepetitionPenalty": "repetition",
}
_NO_BUILTIN_ORM = ("ReactORM", "MathORM", "ReActFormat", "SoftOverlong")


class FacadeError(ImportError):
    """An ms-swift name or module the facade does not provide (an ImportError, so ``from swift.llm
    import X`` keeps the message)."""


class Collector:
    """The registrations one file made through the facade: ``(kind, name, obj, meta)``."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Any, dict]] = []

    def add(self, kind: str, name: str, obj: Any, meta: dict | None = None) -> None:
        self.entries.append((kind, name, obj, dict(meta or {})))


class _RecordingDict(dict):
    """A dict whose item assignments are also registrations (``orms['x'] = X``)."""

    def __init__(self, collector: Collector, kind: str, meta: dict, attr: str = ""):
        super().__init__()
        self._collector, self._kind, self._meta, self._attr = collector, kind, meta, attr

    def __setitem__(self, name: str, obj: Any) -> None:
        if self._kind == "losses" and isinstance(obj, dict) and "loss_func" in obj:
            obj = obj["loss_func"]  # ms-swift 3.x stored {'loss_func': f}
        if self._kind == "tuners" and inspect.isclass(obj) and hasattr(obj, "prepare_model"):
            raise TypeError(f"{self._attr}[{name!r}] = {obj.__name__}: {_TUNER}")
        super().__setitem__(name, obj)
        self._collector.add(self._kind, name, obj, self._meta)

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for name, obj in dict(*args, **kwargs).items():
            self[name] = obj


class _RefusingDict(dict):
    """A registry swift-kernel has no use for (``multi_turns``): registering in it is an error."""

    def __init__(self, attr: str, reason: str):
        super().__init__()
        self._attr, self._reason = attr, reason

    def __setitem__(self, name: str, obj: Any) -> None:
        raise NotImplementedError(f"{self._attr}[{name!r}]: {self._reason}")

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for name, obj in dict(*args, **kwargs).items():
            self[name] = obj


class _RecordingList(list):
    """``extra_callbacks.append(MyCallback)`` registers the callback under its class name."""

    def __init__(self, collector: Collector):
        super().__init__()
        self._collector = collector

    def append(self, obj: Any) -> None:  # type: ignore[override]
        super().append(obj)
        self._collector.add("callbacks", getattr(obj, "__name__", type(obj).__name__), obj)

    def extend(self, objs: Any) -> None:  # type: ignore[override]
        for obj in objs:
            self.append(obj)


class ORM:
    """Base class of ms-swift outcome reward models: ``__call__(completions, **kwargs) -> list[float]``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, completions: list, **kwargs: Any) -> list[float]:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(completions, **kwargs)")


def _run_coroutine(coro: Any) -> Any:
    """Await ``coro`` from synchronous code (in a thread of its own when this one runs an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="swiftk-async-orm")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class AsyncORM(ORM):
    """Base class of ms-swift's asynchronous rewards (``async def __call__``): swift-kernel's trainers
    call rewards synchronously, so a subclass's coroutine ``__call__`` is awaited to completion."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        call = cls.__dict__.get("__call__")
        if call is not None and inspect.iscoroutinefunction(call):

            @functools.wraps(call)
            def __call__(self: Any, *args: Any, **kw: Any) -> Any:
                return _run_coroutine(call(self, *args, **kw))

            cls.__call__ = __call__  # type: ignore[method-assign]


class PRM(ORM):
    """Base class of ms-swift process reward models."""


def _unsupported_base(name: str, reason: str) -> type:
    """A base class a file may subclass (``class MyScheduler(MultiTurnScheduler)``), refused when used."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} ({name}): {reason}")

    return type(name, (), {"__init__": __init__, "__doc__": f"Not supported: {reason}.", "__module__": "swift.plugin"})


def get_model_tokenizer_with_flash_attn(
    model_dir: str, model_info: Any = None, model_kwargs: Any = None, load_model: bool = True, **kw: Any
) -> Any:
    """ms-swift's generic loader, as ``ModelMeta(get_function=...)``: swiftk's generic loader (the model
    plugin's ``AutoModelForCausalLM`` + tokenizer) loads such a model; it is not called directly here."""
    raise NotImplementedError(
        "swift.llm.get_model_tokenizer_with_flash_attn: name it in a ModelMeta (swiftk's generic loader takes "
        "its place); load a model with PtEngine or `swiftk infer` instead"
    )


#: ms-swift's generic ``get_function``: a ModelMeta naming it gets swiftk's generic loader (``get_function=None``).
_GENERIC_LOADERS = {
    "get_model_tokenizer_with_flash_attn": get_model_tokenizer_with_flash_attn,
}


def deep_getattr(obj: Any, attr: str, default: Any = None) -> Any:
    """``getattr`` along a dotted path (dict keys too), as ms-swift's ``swift.llm.deep_getattr``."""
    for part in attr.split("."):
        if obj is None:
            break
        obj = obj.get(part, default) if isinstance(obj, dict) else getattr(obj, part, default)
    return obj


def get_logger(log_file: Optional[str] = None, log_level: Optional[int] = None, file_mode: str = "w") -> logging.Logger:
    """ms-swift's ``swift.utils.get_logger``: the ``swift`` logger (plus a file handler for ``log_file``)."""
    logger = logging.getLogger("swift")
    if log_level is not None:
        logger.setLevel(log_level)
    if log_file is not None and not any(
        isinstance(h, logging.FileHandler) and h.baseFilename.endswith(log_file) for h in logger.handlers
    ):
        logger.addHandler(logging.FileHandler(log_file, file_mode))
    return logger


# --- modules -------------------------------------------------------------------------------


def _module(
    name: str, doc: str = FACADE_DOC, *, package: bool = False, missing: Optional[dict] = None, **attrs: Any
) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attrs)
    if package:
        module.__path__ = []  # a package, so that ``import swift.llm.x`` asks the facade's finder
    supported = sorted(k for k in attrs if not k.startswith("_"))
    refused = {**_NOT_SUPPORTED.get(name, {}), **(missing or {})}

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        if attr in refused:
            raise FacadeError(f"{name}.{attr}: {refused[attr]}")
        # ImportError (not AttributeError) so that ``from swift.llm import X`` keeps this message
        raise FacadeError(
            f"{name}.{attr} is not part of swift-kernel's ms-swift compatibility "
            f"facade (it provides: {', '.join(supported)}); port this part of the "
            f"file to a swiftk plugin (docs/plugins.md)"
        )

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return module


class _Finder(importlib.abc.MetaPathFinder):
    """``import swift.<anything else>`` while the facade is in place: one ImportError naming the module."""

    def __init__(self, modules: dict[str, types.ModuleType]):
        self.modules = modules

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname.split(".")[0] != "swift" or fullname in self.modules:
            return None
        provided = ", ".join(sorted(self.modules))
        raise FacadeError(
            f"{fullname} is not part of swift-kernel's ms-swift compatibility facade (it provides the "
            f"modules {provided}); port this part of the file to a swiftk plugin (docs/plugins.md)"
        )


def _plugin_names(host: Any) -> dict[str, Any]:
    """Extra ``swift.llm`` names the plugins offer (``mswift_facade`` hook)."""
    names: dict[str, Any] = {}
    for answer in host.hook.mswift_facade():
        names.update(answer or {})
    return names


def _arguments(command: str, values: dict[str, Any], caller: str) -> Any:
    """The resolved arguments of ``swiftk <command>`` given ``values`` (what an ms-swift call's keywords say)."""
    from swiftk.cli.builtin import make_parser, resolve_arguments

    infos = make_parser(command).infos
    unknown = sorted(k for k in values if k not in infos)
    if unknown:
        raise TypeError(f"{caller}: swiftk {command} has no {', '.join('--' + k for k in unknown)}")
    return resolve_arguments(command, [], values, config_name=caller)


def _dtype_name(value: Any) -> Any:
    return str(value).replace("torch.", "") if value is not None and not isinstance(value, str) else value


def _pt_engine(provided: Any) -> type:
    """ms-swift's ``PtEngine(model_id_or_path, ...)`` around a plugin's engine class (``from_args(args)``)."""

    class PtEngine:
        """ms-swift's ``PtEngine``: ``swiftk infer``'s arguments from its keywords, then the pt engine."""

        def __new__(
            cls,
            model_id_or_path: str,
            torch_dtype: Any = None,
            *,
            adapters: Optional[list] = None,
            max_batch_size: Optional[int] = None,
            model_type: Optional[str] = None,
            use_hf: Optional[bool] = None,
            revision: Optional[str] = None,
            hub_token: Optional[str] = None,
            load_model: bool = True,
            attn_impl: Optional[str] = None,
            device_map: Any = None,
            task_type: Optional[str] = None,
            quantization_config: Any = None,
            model_kwargs: Optional[dict] = None,
            template: Any = None,
            **kwargs: Any,
        ) -> Any:
            refused = {
                "load_model": "an engine without a model" if not load_model else None,
                "quantization_config": "pass quant_method/quant_bits to `swiftk infer` instead"
                if quantization_config is not None
                else None,
                "template": "a Template object; give the template's name"
                if template is not None and not isinstance(template, str)
                else None,
                **{k: "not a PtEngine keyword swift-kernel knows" for k in kwargs},
            }
            for key, why in refused.items():
                if why:
                    raise TypeError(f"PtEngine({key}=...): {why} (swift-kernel's ms-swift compatibility facade)")
            values: dict[str, Any] = {"model": model_id_or_path, "infer_backend": "pt"}
            given = {
                "torch_dtype": _dtype_name(torch_dtype),
                "adapters": list(adapters) if adapters else None,
                "max_batch_size": max_batch_size if max_batch_size and max_batch_size > 0 else None,
                "model_type": model_type,
                "use_hf": use_hf,
                "model_revision": revision,
                "hub_token": hub_token,
                "attn_impl": attn_impl,
                "device_map": device_map,
                "task_type": task_type,
                "model_kwargs": model_kwargs,
                "template": template,
            }
            values.update({k: v for k, v in given.items() if v is not None})
            return provided.from_args(_arguments("infer", values, "PtEngine"))

    return PtEngine


def _load_dataset(provided: Callable[[Any], Any]) -> Callable[..., Any]:
    """ms-swift's ``load_dataset(datasets, ...) -> (train, val)`` around a plugin's ``load(args)``."""

    def load_dataset(
        datasets: Any,
        *,
        split_dataset_ratio: float = 0.0,
        seed: Any = 42,
        num_proc: int = 1,
        load_from_cache_file: bool = True,
        shuffle: bool = False,
        streaming: bool = False,
        interleave_prob: Optional[list] = None,
        stopping_strategy: str = "first_exhausted",
        shuffle_buffer_size: int = 1000,
        use_hf: Optional[bool] = None,
        hub_token: Optional[str] = None,
        strict: bool = False,
        download_mode: str = "reuse_dataset_if_exists",
        columns: Optional[dict] = None,
        remove_unused_columns: bool = True,
        model_name: Any = None,
        model_author: Any = None,
        **kwargs: Any,
    ) -> tuple[Any, Any]:
        """ms-swift's ``load_dataset``: ``(train_dataset, val_dataset or None)`` of registered datasets."""
        if interleave_prob is not None:
            raise TypeError("load_dataset(interleave_prob=...): interleaving datasets is not supported by swift-kernel")
        if kwargs:
            raise TypeError(f"load_dataset: unknown keyword {sorted(kwargs)[0]!r} (swift-kernel's ms-swift facade)")
        if not isinstance(seed, int):
            seed = 42  # a numpy RandomState: swiftk seeds with an int
        values = {
            "dataset": [datasets] if isinstance(datasets, str) else list(datasets),
            "split_dataset_ratio": split_dataset_ratio,
            "data_seed": seed,
            "dataset_num_proc": num_proc,
            "streaming": streaming,
            "strict": strict,
            "download_mode": download_mode,
            "remove_unused_columns": remove_unused_columns,
        }
        optional = {
            "use_hf": use_hf,
            "hub_token": hub_token,
            "columns": columns,
            "model_name": list(model_name) if model_name else None,
            "model_author": list(model_author) if model_author else None,
        }
        values.update({k: v for k, v in optional.items() if v is not None})
        train, val = provided(_arguments("sft", values, "load_dataset"))
        if shuffle and train is not None:
            train = train.shuffle(seed=seed, buffer_size=shuffle_buffer_size) if streaming else train.shuffle(seed=seed)
        return train, val

    return load_dataset


#: ms-swift names whose plugin value is built from a command's resolved arguments.
_FROM_ARGUMENTS = {"PtEngine": _pt_engine, "load_dataset": _load_dataset}


class _BuiltinORMs:
    """``swift.plugin.orm.MathAccuracy`` and co.: the swiftk reward registered under the same role."""

    def __init__(self, host: Any):
        self.host = host

    def get(self, name: str) -> Any:
        if name in _NO_BUILTIN_ORM:
            raise FacadeError(f"swift.plugin.orm.{name}: ms-swift's built-in ORM {name} has no swiftk equivalent")
        reward = _BUILTIN_ORMS[name]
        registry = self.host.registry("rewards")
        if reward not in registry:
            raise FacadeError(
                f"swift.plugin.orm.{name}: swiftk's equivalent, the reward '{reward}', is not registered "
                f"(pip install swift-plugin-grpo)"
            )
        value = self.host.get("rewards", reward)
        if inspect.isclass(value):
            return value
        return type(name, (ORM,), {"__call__": lambda self, completions, **kw: value(completions, **kw)})


def build_modules(collector: Collector, host: Any) -> dict[str, types.ModuleType]:
    """The facade modules, writing into ``collector``, with the names ``host``'s plugins add."""
    mappings = {attr: _RecordingDict(collector, kind, meta, attr) for attr, (kind, meta) in _PLUGIN_MAPPINGS.items()}

    def register_model(model_meta: specs.ModelMeta, exist_ok: bool = False) -> None:
        if model_meta.get_function is get_model_tokenizer_with_flash_attn:
            model_meta = dataclasses.replace(model_meta, get_function=None)  # swiftk's generic loader
        collector.add("models", model_meta.model_type, model_meta)

    def register_template(template_meta: specs.TemplateMeta, exist_ok: bool = False) -> None:
        collector.add("templates", template_meta.template_type, template_meta)

    def register_dataset(dataset_meta: specs.DatasetMeta, exist_ok: bool = False) -> None:
        if not dataset_meta.name:
            raise ValueError("register_dataset needs a DatasetMeta with dataset_name, an id or a dataset_path")
        collector.add("datasets", dataset_meta.name, dataset_meta)

    def register_loss_func(loss_type: str, loss_func: Any = None) -> Any:
        if loss_func is not None:
            mappings["loss_mapping"][loss_type] = loss_func
            return loss_func

        def decorator(func: Any) -> Any:
            mappings["loss_mapping"][loss_type] = func
            return func

        return decorator

    def get_loss_func(loss_type: Optional[str]) -> Any:
        if loss_type is None:
            return None
        if loss_type in mappings["loss_mapping"]:
            return mappings["loss_mapping"][loss_type]
        return host.get("losses", loss_type)

    multi_turns = _RefusingDict("multi_turns", _MULTI_TURN)
    scheduler = _unsupported_base("MultiTurnScheduler", _MULTI_TURN)
    envs, context_managers = _RefusingDict("envs", _MULTI_TURN), _RefusingDict("context_managers", _MULTI_TURN)
    rm_plugins = _RefusingDict("rm_plugins", _RM_PLUGIN)
    builtin_orms = _BuiltinORMs(host)

    # swift.plugin's submodules (ms-swift 3.12's layout); each name is also on swift.plugin itself
    sub = {
        "orm": dict(ORM=ORM, AsyncORM=AsyncORM, orms=mappings["orms"]),
        "prm": dict(PRM=PRM, prms=mappings["prms"]),
        "loss": dict(
            loss_mapping=mappings["loss_mapping"], register_loss_func=register_loss_func, get_loss_func=get_loss_func
        ),
        "loss_scale": dict(loss_scale_map=mappings["loss_scale_map"]),
        "callback": dict(extra_callbacks=_RecordingList(collector)),
        "optimizer": dict(optimizers_map=mappings["optimizers_map"]),
        "metric": dict(metric_mapping=mappings["metric_mapping"]),
        "tuner": dict(extra_tuners=mappings["extra_tuners"]),
        "agent_template": dict(agent_templates=mappings["agent_templates"]),
        "multi_turn": dict(
            MultiTurnScheduler=scheduler,
            RolloutScheduler=_unsupported_base("RolloutScheduler", _MULTI_TURN),
            multi_turns=multi_turns,
        ),
        "env": dict(Env=_unsupported_base("Env", _MULTI_TURN), envs=envs),
        "context_manager": dict(
            ContextManager=_unsupported_base("ContextManager", _MULTI_TURN), context_managers=context_managers
        ),
        "rm_plugin": dict(
            rm_plugins=rm_plugins,
            DefaultRMPlugin=_unsupported_base("DefaultRMPlugin", _RM_PLUGIN),
            GenRMPlugin=_unsupported_base("GenRMPlugin", _RM_PLUGIN),
        ),
    }
    submodules = {f"swift.plugin.{name}": _module(f"swift.plugin.{name}", **attrs) for name, attrs in sub.items()}
    orm_module = submodules["swift.plugin.orm"]
    orm_getattr = orm_module.__getattr__

    def orm_attr(attr: str) -> Any:
        if attr in _BUILTIN_ORMS or attr in _NO_BUILTIN_ORM:
            return builtin_orms.get(attr)
        return orm_getattr(attr)

    orm_module.__getattr__ = orm_attr  # type: ignore[attr-defined]

    top = {
        k: v
        for attrs in sub.values()
        for k, v in attrs.items()
        if k not in ("RolloutScheduler", "DefaultRMPlugin", "GenRMPlugin")
    }
    plugin = _module("swift.plugin", package=True, **top, **{k.rsplit(".", 1)[1]: m for k, m in submodules.items()})

    provided = _plugin_names(host)
    for name, wrap in _FROM_ARGUMENTS.items():
        if name in provided:
            provided[name] = wrap(provided[name])
    utils = _module("swift.utils", get_logger=get_logger, deep_getattr=deep_getattr)
    missing = {
        name: f"provided by {dist}, which is not loaded (pip install {dist})"
        for name, dist in _FROM_PLUGINS.items()
        if name not in provided
    }
    llm = _module(
        "swift.llm",
        package=True,
        missing=missing,
        register_model=register_model,
        register_template=register_template,
        register_dataset=register_dataset,
        ModelMeta=specs.ModelMeta,
        ModelGroup=specs.ModelGroup,
        Model=specs.Model,
        TemplateMeta=specs.TemplateMeta,
        DatasetMeta=specs.DatasetMeta,
        SubsetDataset=specs.SubsetDataset,
        deep_getattr=deep_getattr,
        get_logger=get_logger,
        **_GENERIC_LOADERS,
        **provided,
    )
    root = _module("swift", package=True, plugin=plugin, llm=llm, utils=utils)
    return {"swift": root, "swift.plugin": plugin, "swift.llm": llm, "swift.utils": utils, **submodules}


def real_mswift_installed() -> bool:
    """True when the real ms-swift is importable (then files use it unchanged)."""
    if "swift" in sys.modules:
        return not (getattr(sys.modules["swift"], "__doc__", "") or "").endswith("(swift-kernel)")
    return importlib.util.find_spec("swift") is not None


@contextlib.contextmanager
def facade(collector: Collector, host: Any) -> Iterator[None]:
    """Install the facade modules in ``sys.modules`` for the duration of the block."""
    if real_mswift_installed():
        yield
        return
    modules = build_modules(collector, host)
    saved = {name: sys.modules.get(name) for name in modules}
    finder = _Finder(modules)
    sys.modules.update(modules)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        try:
            sys.meta_path.remove(finder)
        except ValueError:
            pass
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
