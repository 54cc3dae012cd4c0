"""The plugin host: a pluggy manager plus the registries that registration hooks fill.

* Entry points of the ``swiftk`` group are loaded once, lazily (on first use of a registry,
  a hook or the plugin list), honouring ``SWIFTK_DISABLE_PLUGIN_AUTOLOAD``,
  ``SWIFTK_LOAD_PLUGINS`` (an allow-list) and ``SWIFTK_DISABLED_PLUGINS``.
* Each plugin's ``register_<kind>`` implementations are called on their own, all kinds at once, so
  every entry records which plugin made it.
* A faulty plugin (it fails to import, a registration hook raises, it registers a name another
  plugin holds) is skipped whole with a one-line warning; asking for one of its names quotes that
  failure.  A plugin file (``--custom_register_path``) may override an installed plugin's name.
* :func:`reset_host` gives tests a fresh host.
"""

from __future__ import annotations

import difflib
import inspect
import os
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional

import pluggy

from swiftk import PROJECT_NAME, hookspecs
from swiftk.errors import PluginError
from swiftk.hints import distribution_installed, not_yet, provider_of
from swiftk.registry import Entry, Registry

ENTRY_POINT_GROUP = "swiftk"
_HOOK_PREFIXES = ("register_", "resolve_", "post_", "pre_", "train_")


def _env_list(name: str) -> Optional[set[str]]:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    return {p.strip() for p in raw.replace(" ", ",").split(",") if p.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _normalize_dist(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass
class PluginInfo:
    """A loaded plugin: its name, where it comes from, and what it registered."""

    name: str
    distribution: Optional[str] = None
    version: Optional[str] = None
    source: str = "entry point"  # "entry point", a file path, or "registered in code"
    registers: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FailedPlugin:
    """A plugin that could not be imported, or whose registration failed (a hook raised, a name it
    registered was taken): kept to explain its missing names."""

    name: str
    distribution: Optional[str]
    version: Optional[str]
    error: str
    names: dict[str, list[str]] = field(default_factory=dict)  # kind -> names it registered before failing
    source: str = "entry point"  # or the plugin file's path


class _PluginManager(pluggy.PluginManager):
    """pluggy's manager that, like pytest, also accepts unmarked functions named after a hook."""

    def parse_hookimpl_opts(self, plugin, name):  # type: ignore[override]
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name in hookspecs.__dict__ and name.startswith(_HOOK_PREFIXES):
            method = getattr(plugin, name, None)
            if inspect.isroutine(method) and _defined_in(method, plugin):
                return {}
        return opts


def _defined_in(func: Any, plugin: Any) -> bool:
    """True when ``func`` belongs to ``plugin`` itself (not a name it imported)."""
    module_name = getattr(plugin, "__name__", None) if inspect.ismodule(plugin) else None
    if module_name is None:
        return True
    return getattr(func, "__module__", None) == module_name


def _where(func: Any) -> str:
    try:
        return f"{inspect.getsourcefile(func)}:{inspect.getsourcelines(func)[1]}"
    except (OSError, TypeError):
        return getattr(func, "__qualname__", repr(func))


class PluginHost:
    """The plugin manager and registries of one process (see :func:`get_host`)."""

    def __init__(self, autoload: Optional[bool] = None):
        self.pm = _PluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._hook_names = {n for n in dir(self.pm.hook) if not n.startswith("_")}
        self._autoload = (not _env_flag("SWIFTK_DISABLE_PLUGIN_AUTOLOAD")) if autoload is None else autoload
        self._entrypoints_loaded = False
        self._info: dict[str, PluginInfo] = {}
        self.failed: dict[str, FailedPlugin] = {}
        self._registries: dict[str, Registry] = {}
        self._collected: set[str] = set()  # plugins whose registration hooks have run
        self._static: dict[str, list[tuple[str, str, Any, dict]]] = {}
        self._warned: set[str] = set()

    # -- plugins --------------------------------------------------------------------------
    def register_plugin(
        self,
        plugin: Any,
        name: Optional[str] = None,
        *,
        distribution: Optional[str] = None,
        version: Optional[str] = None,
        source: str = "registered in code",
        static: Iterable[tuple[str, str, Any, dict]] = (),
    ) -> str:
        """Add a plugin object (a module, class or instance with hook implementations).

        ``static`` entries ``(kind, name, obj, meta)`` are registered as if the plugin's
        ``register_<kind>`` hook had made them (used for ms-swift style files).
        """
        name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin)}"
        if name in self._info:
            raise PluginError(
                f"a plugin named '{name}' is already registered "
                f"({self._info[name].source}); plugin names must be unique"
            )
        self._check_hook_names(plugin, name, source)
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()  # a marked hookimpl whose name is no swiftk hook
        except pluggy.PluginValidationError as exc:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            raise PluginError(f"plugin '{name}' ({source}): {exc}") from None
        self._info[name] = PluginInfo(name, distribution, version, source)
        self._static[name] = list(static)
        return name

    def _check_hook_names(self, plugin: Any, name: str, source: str) -> None:
        """A function that looks like a hook but is not one is a misspelling: fail naming it."""
        for attr in dir(plugin):
            if not attr.startswith(_HOOK_PREFIXES) or attr in self._hook_names:
                continue
            func = getattr(plugin, attr, None)
            if not inspect.isroutine(func):
                continue
            marked = hasattr(func, f"{PROJECT_NAME}_impl")
            if marked or (attr.startswith("register_") and inspect.ismodule(plugin) and _defined_in(func, plugin)):
                close = difflib.get_close_matches(attr, sorted(self._hook_names), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                raise PluginError(
                    f"plugin '{name}' ({_where(func)}) defines '{attr}', which is not a swiftk hook{hint}"
                )

    def load_entrypoints(self) -> None:
        """Import every ``swiftk`` entry point once, honouring the allow/deny environment lists."""
        if self._entrypoints_loaded:
            return
        self._entrypoints_loaded = True
        allow = _env_list("SWIFTK_LOAD_PLUGINS")
        deny = _env_list("SWIFTK_DISABLED_PLUGINS") or set()
        if not self._autoload and allow is None:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = getattr(ep, "dist", None)
            dist_name = dist.name if dist is not None else None
            version = dist.version if dist is not None else None
            keys = {ep.name} | ({dist_name, _normalize_dist(dist_name)} if dist_name else set())
            if keys & deny or (allow is not None and not keys & allow):
                continue
            if ep.name in self._info or ep.name in self.failed:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                self._fail(ep.name, dist_name, version, f"{type(exc).__name__}: {exc}")
                continue
            try:
                self.register_plugin(plugin, ep.name, distribution=dist_name, version=version, source="entry point")
            except PluginError as exc:
                self._fail(ep.name, dist_name, version, str(exc))

    def _fail(
        self,
        name: str,
        dist: Optional[str],
        version: Optional[str],
        error: str,
        names: Optional[dict[str, list[str]]] = None,
        source: str = "entry point",
    ) -> None:
        self.failed[name] = FailedPlugin(name, dist, version, error, dict(names or {}), source)
        if name not in self._warned:
            self._warned.add(name)
            who = f"{name} ({dist} {version})" if dist else name
            sys.stderr.write(f"swiftk: warning: plugin {who} failed to load and is skipped: {error}\n")

    @property
    def hook(self) -> Any:
        """pluggy's hook relay (``host.hook.post_model_load(...)``), with plugins loaded (and those whose
        registration failed taken out)."""
        self._collect_all()
        return self.pm.hook

    def plugin_infos(self) -> list[PluginInfo]:
        """Every loaded plugin with the names it registered, by kind (``swiftk plugins``)."""
        self.load_entrypoints()
        for kind in hookspecs.REGISTRY_KINDS:
            self.registry(kind)
        out = []
        for info in self._info.values():
            info.registers = {}
            for kind in hookspecs.REGISTRY_KINDS:
                names = [e.name for e in self._registries[kind].entries() if e.plugin == info.name]
                if names:
                    info.registers[kind] = names
            out.append(info)
        return out

    def plugin_info(self, name: str) -> Optional[PluginInfo]:
        return self._info.get(name)

    # -- registries -----------------------------------------------------------------------
    def registry(self, kind: str) -> Registry:
        """The registry of ``kind`` (e.g. ``"rewards"``), filled from every plugin's hook."""
        if kind not in hookspecs.REGISTRY_KINDS:
            close = difflib.get_close_matches(kind, hookspecs.REGISTRY_KINDS, n=1)
            raise KeyError(f"no registry kind '{kind}'" + (f"; did you mean '{close[0]}'?" if close else ""))
        self._collect_all()
        return self._registries[kind]

    def _collect_all(self) -> None:
        self.load_entrypoints()
        if not self._registries:
            self._registries = {k: Registry(k, self._explain_missing) for k in hookspecs.REGISTRY_KINDS}
        for plugin_name in list(self._info):
            if plugin_name not in self._collected:
                self._collected.add(plugin_name)
                self._collect(plugin_name)

    def _collect(self, plugin_name: str) -> None:
        """Run every registration hook of one plugin (cheap by contract: names and lazy references).

        All kinds at once, so that a faulty plugin (a hook that raises, a name another plugin holds)
        is found before any of its names is used: it is skipped whole, with one warning, and listed
        as failed; the other plugins go on."""
        added: list[Entry] = []
        hook = "registration"
        try:
            for kind in hookspecs.REGISTRY_KINDS:
                hook = f"register_{kind}"
                register = self._make_register(self._registries[kind], plugin_name, added)
                for impl in getattr(self.pm.hook, hook).get_hookimpls():
                    if impl.plugin_name == plugin_name:
                        impl.function(register)
                for s_kind, s_name, s_obj, s_meta in self._static.get(plugin_name, ()):
                    if s_kind == kind:
                        register(s_name, s_obj, **s_meta)
        except Exception as exc:  # one plugin's fault must not take the others down
            names: dict[str, list[str]] = {}
            for entry in added:
                self._registries[entry.kind].remove(entry.name, entry.plugin)
                names.setdefault(entry.kind, []).append(entry.name)
            info = self._info.pop(plugin_name)
            plugin = self.pm.get_plugin(plugin_name)
            if plugin is not None:
                self.pm.unregister(plugin, name=plugin_name)
            self._fail(
                plugin_name,
                info.distribution,
                info.version,
                _registration_error(plugin_name, hook, exc),
                names,
                info.source,
            )

    def _make_register(self, registry: Registry, plugin_name: str, added: list):
        allowed = hookspecs.REGISTER_OPTIONS.get(registry.kind, {})

        def register(name: str, obj: Any, **meta: Any) -> Entry:
            unknown = sorted(set(meta) - set(allowed))
            if unknown:
                close = difflib.get_close_matches(unknown[0], list(allowed), n=1)
                valid = f"valid: {', '.join(allowed)}" if allowed else "register_" + registry.kind + " takes none"
                hint = f"did you mean {close[0]}? " if close else ""
                raise PluginError(
                    f"plugin '{plugin_name}' passed register_{registry.kind} the unknown option "
                    f"{unknown[0]}= for '{name}'; {hint}{valid}"
                )
            existing = registry.entry_or_none(name)
            if existing is not None and existing.plugin != plugin_name:
                ours, theirs = self._is_file_plugin(plugin_name), self._is_file_plugin(existing.plugin)
                if ours != theirs:  # a --custom_register_path file overrides an installed plugin on purpose
                    winner, loser = (plugin_name, existing.plugin) if ours else (existing.plugin, plugin_name)
                    sys.stderr.write(
                        f"swiftk: {registry.label} '{name}' of plugin '{loser}' is overridden by "
                        f"{self._info[winner].source}\n"
                    )
                    if not ours:
                        return existing
                    registry.remove(name, existing.plugin)
            entry = registry.add(name, obj, plugin_name, **meta)
            added.append(entry)
            return entry

        options = "".join(f", {k}=..." for k in allowed)
        register.__doc__ = f"register(name, obj{options}) into the {registry.kind} registry"
        return register

    def _is_file_plugin(self, plugin_name: str) -> bool:
        """Loaded from a .py file (``--custom_register_path``/``--external_plugins``)."""
        info = self._info.get(plugin_name)
        return info is not None and info.source.endswith(".py")

    def get(self, kind: str, name: str) -> Any:
        """Shortcut for ``host.registry(kind).get(name)``."""
        return self.registry(kind).get(name)

    def _explain_missing(self, kind: str, name: str) -> Optional[str]:
        """Why a name is missing: its plugin failed, or its distribution is absent or disabled."""
        for failed in self.failed.values():
            if name in failed.names.get(kind, ()):
                return f"it is provided by plugin '{failed.name}', which failed and was skipped: {failed.error}"
        missing = not_yet(kind, name)
        if missing:
            return missing
        dist = provider_of(kind, name)
        if dist is None:
            return None
        for failed in self.failed.values():
            if failed.distribution and _normalize_dist(failed.distribution) == _normalize_dist(dist):
                return f"it is provided by plugin '{failed.name}' ({dist}), which failed to load: {failed.error}"
        for info in self._info.values():
            if info.distribution and _normalize_dist(info.distribution) == _normalize_dist(dist):
                return None  # installed and loaded: a real unknown name, fall back to suggestions
        if distribution_installed(dist):
            return (
                f"it is provided by {dist}, which is installed but not loaded (check "
                f"SWIFTK_DISABLE_PLUGIN_AUTOLOAD, SWIFTK_LOAD_PLUGINS, SWIFTK_DISABLED_PLUGINS)"
            )
        return f"it is provided by {dist}, which is not installed: pip install {dist}"


def _registration_error(plugin_name: str, hook: str, exc: BaseException) -> str:
    """``plugin 'x' failed in register_y (file:line of the raise): Error: message``."""
    import traceback

    if isinstance(exc, PluginError):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"plugin '{plugin_name}' failed in {hook}{where}: {type(exc).__name__}: {exc}"


_HOST: Optional[PluginHost] = None


def get_host() -> PluginHost:
    """The process-wide host, created on first use."""
    global _HOST
    if _HOST is None:
        _HOST = PluginHost()
    return _HOST


def reset_host(host: Optional[PluginHost] = None) -> PluginHost:
    """Replace the process-wide host (a fresh one by default); for tests and re-configuration."""
    global _HOST
    _HOST = host if host is not None else PluginHost()
    return _HOST
