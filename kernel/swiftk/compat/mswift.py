"""A small stand-in for ``swift.plugin`` and ``swift.llm`` while an ms-swift file loads.

Registration files written for ms-swift 3.x do ``orms['name'] = MyORM`` or
``register_model(ModelMeta(...))`` at import time.  While such a file runs (and ms-swift
itself is not installed), these modules stand in for ``swift``, ``swift.plugin`` and
``swift.llm``, and every write is recorded as a registration of the file's plugin.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from typing import Any, Iterator

from swiftk import specs

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


class Collector:
    """The registrations one file made through the facade: ``(kind, name, obj, meta)``."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, Any, dict]] = []

    def add(self, kind: str, name: str, obj: Any, meta: dict | None = None) -> None:
        self.entries.append((kind, name, obj, dict(meta or {})))


class _RecordingDict(dict):
    """A dict whose item assignments are also registrations (``orms['x'] = X``)."""

    def __init__(self, collector: Collector, kind: str, meta: dict):
        super().__init__()
        self._collector, self._kind, self._meta = collector, kind, meta

    def __setitem__(self, name: str, obj: Any) -> None:
        if self._kind == "losses" and isinstance(obj, dict) and "loss_func" in obj:
            obj = obj["loss_func"]  # ms-swift 3.x stored {'loss_func': f}
        super().__setitem__(name, obj)
        self._collector.add(self._kind, name, obj, self._meta)

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


class PRM(ORM):
    """Base class of ms-swift process reward models."""


def _module(name: str, doc: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name, doc)
    module.__dict__.update(attrs)
    supported = sorted(k for k in attrs if not k.startswith("_"))

    def __getattr__(attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        # ImportError (not AttributeError) so that ``from swift.llm import X`` keeps this message
        raise ImportError(
            f"{name}.{attr} is not part of swift-kernel's ms-swift compatibility "
            f"facade (it provides: {', '.join(supported)}); port this part of the "
            f"file to a swiftk plugin (docs/plugins.md)"
        )

    module.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return module


def _plugin_names(host: Any) -> dict[str, Any]:
    """Extra ``swift.llm`` names the plugins offer (``mswift_facade`` hook: swift-plugin-datasets'
    row preprocessor classes)."""
    names: dict[str, Any] = {}
    for answer in host.hook.mswift_facade():
        names.update(answer or {})
    return names


def build_modules(collector: Collector, host: Any) -> dict[str, types.ModuleType]:
    """The facade modules, writing into ``collector``, with the names ``host``'s plugins add."""
    mappings = {attr: _RecordingDict(collector, kind, meta) for attr, (kind, meta) in _PLUGIN_MAPPINGS.items()}

    def register_model(model_meta: specs.ModelMeta, exist_ok: bool = False) -> None:
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

    plugin = _module(
        "swift.plugin",
        "ms-swift compatibility facade (swift-kernel)",
        ORM=ORM,
        PRM=PRM,
        extra_callbacks=_RecordingList(collector),
        register_loss_func=register_loss_func,
        **mappings,
    )
    llm = _module(
        "swift.llm",
        "ms-swift compatibility facade (swift-kernel)",
        register_model=register_model,
        register_template=register_template,
        register_dataset=register_dataset,
        ModelMeta=specs.ModelMeta,
        ModelGroup=specs.ModelGroup,
        Model=specs.Model,
        TemplateMeta=specs.TemplateMeta,
        DatasetMeta=specs.DatasetMeta,
        SubsetDataset=specs.SubsetDataset,
        **_plugin_names(host),
    )
    root = _module("swift", "ms-swift compatibility facade (swift-kernel)", plugin=plugin, llm=llm)
    root.__path__ = []  # a package, so that ``import swift.llm`` works
    return {"swift": root, "swift.plugin": plugin, "swift.llm": llm}


def real_mswift_installed() -> bool:
    """True when the real ms-swift is importable (then files use it unchanged)."""
    if "swift" in sys.modules:
        return not getattr(sys.modules["swift"], "__doc__", "").endswith("(swift-kernel)")
    return importlib.util.find_spec("swift") is not None


@contextlib.contextmanager
def facade(collector: Collector, host: Any) -> Iterator[None]:
    """Install the facade modules in ``sys.modules`` for the duration of the block."""
    if real_mswift_installed():
        yield
        return
    modules = build_modules(collector, host)
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
