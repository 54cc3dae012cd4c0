"""Packaging matrix (issue #18): each plugin's wheel, installed with only its declared dependencies into a
fresh venv, loads, imports every one of its modules and answers one command.

What it catches: an import at a module's top of a package the plugin does not declare (swift-plugin-infer
once imported fastapi without declaring it, so `swiftk deploy` failed after `pip install swift-plugin-infer`),
and a plugin overriding private trl/transformers methods without an upper bound on that library.

How it stays cheap (every plugin in about two minutes on 2 cores):
- the kernel's and every plugin's wheels are built once (`pip wheel --no-deps --no-build-isolation`, from a
  copy of the sources, so that no build/ folder lands in the tree);
- the third-party distributions that any plugin needs are repacked once, unchanged, from this venv into a
  wheelhouse: the versions the other tests run, nothing downloaded; each plugin's venv is a real
  `pip install --no-index --find-links <wheels> swift-plugin-<name>`, so pip installs what the plugin declares,
  and fails if that is not in this venv;
- torch is installed once (torch==<this venv's version>, the CPU build, first, so that nothing pulls CUDA) into
  a base venv. A plugin's fresh venv sees through a .pth file the torch base, only when its dependencies need
  torch, and the venvs of the plugins it declares (each holding that plugin's own closure, checked by that
  plugin's test): pip finds those satisfied and installs the rest, so exactly the plugin's dependency closure
  is importable, and each third-party distribution is unpacked about once rather than once per plugin;
- pip runs with --no-compile, and venvs are made without pip (`pip --python`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from subprocess import DEVNULL
import sys
import time
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from kernel_support import ROOT, swiftk_env

PLUGINS = sorted(
    p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file() and p.name != "_template"
)

#: modules whose only failing import is a documented optional dependency (an extra): module -> missing module
OPTIONAL_MODULES = {
    "swiftk_galore.qgalore": "q_galore_torch",  # Q-GaLore: the [qgalore] extra (q-galore-torch)
}
#: GPU-only engines, imported lazily: the plugin must load and all its modules import without them
GPU_ONLY = {"liger": "liger_kernel", "lmdeploy": "lmdeploy", "unsloth": "unsloth", "vllm": "vllm"}
#: libraries whose private methods a plugin may override only with an upper bound on them
BOUNDED_LIBS = ("transformers", "trl")

#: plugin -> ((kind, name) it must register or None, swiftk argv, text the output must contain)
SMOKE = {
    "datasets": (
        ("datasets", "swiftk/demo-sft"),
        ["sft", "--dataset", "swiftk/demo-sft", "--print_args"],
        '"swiftk/demo-sft"',
    ),
    "demo": (("models", "tiny_chat"), ["sft", "--model", "swiftk/tiny-chat", "--print_args"], '"swiftk/tiny-chat"'),
    "eval": (
        ("eval_backends", "Native"),
        ["eval", "--eval_dataset", "swiftk/demo-gsm8k", "--print_args"],
        '"eval_dataset"',
    ),
    "galore": (("optimizers", "galore"), ["sft", "--use_galore", "true", "--print_args"], '"use_galore": true'),
    "grpo": (("trainers", "grpo"), ["rlhf", "--rlhf_type", "grpo", "--help"], "--num_generations"),
    "infer": (("commands", "deploy"), ["deploy", "--help"], "--port"),
    "liger": (None, ["sft", "--use_liger", "true", "--print_args"], '"use_liger": true'),
    "lisa": (
        ("callbacks", "lisa"),
        ["sft", "--lisa_activated_layers", "2", "--print_args"],
        '"lisa_activated_layers": 2',
    ),
    "lmdeploy": (
        ("infer_engines", "lmdeploy"),
        ["infer", "--infer_backend", "lmdeploy", "--print_args"],
        '"infer_backend": "lmdeploy"',
    ),
    "models": (
        ("templates", "qwen"),
        ["sft", "--model_type", "qwen2", "--template", "qwen", "--print_args"],
        '"model_type": "qwen2"',
    ),
    "multimodal": (
        ("models", "qwen2_5_vl"),
        ["sft", "--model_type", "qwen2_5_vl", "--print_args"],
        '"model_type": "qwen2_5_vl"',
    ),
    "peft": (("tuners", "lora"), ["sft", "--train_type", "lora", "--print_args"], '"train_type": "lora"'),
    "quant": (
        ("quantizers", "fp8"),
        ["export", "--model", "Qwen/Qwen2.5-0.5B-Instruct", "--quant_method", "fp8", "--print_args"],
        '"quant_method": "fp8"',
    ),
    "reft": (("tuners", "reft"), ["sft", "--train_type", "reft", "--print_args"], '"train_type": "reft"'),
    "rlhf": (("trainers", "dpo"), ["rlhf", "--rlhf_type", "dpo", "--help"], "--beta"),
    "sample": (
        ("samplers", "mcts"),
        ["sample", "--sampler_type", "mcts", "--resume", "true", "--print_args"],
        '"resume": true',
    ),
    "sft": (("trainers", "sft"), ["sft", "--help"], "--train_type"),
    "trackers": (
        ("callbacks", "tracker_config"),
        ["sft", "--swanlab_mode", "local", "--print_args"],
        '"swanlab_mode": "local"',
    ),
    "unsloth": (
        ("tuners", "unsloth"),
        ["sft", "--tuner_backend", "unsloth", "--print_args"],
        '"tuner_backend": "unsloth"',
    ),
    "vllm": (
        ("infer_engines", "vllm"),
        ["infer", "--infer_backend", "vllm", "--print_args"],
        '"infer_backend": "vllm"',
    ),
}

#: run inside a plugin's venv: import every module of the package, list private overrides of BOUNDED_LIBS
_IMPORT_ALL = r"""
import importlib, importlib.util, inspect, json, sys, traceback
from pathlib import Path
pkg_name, libs, probes = sys.argv[1], tuple(sys.argv[2].split(",")), sys.argv[3].split(",")
pkg_dir = Path(importlib.util.find_spec(pkg_name).origin).parent
mods = sorted({".".join((pkg_name,) + p.relative_to(pkg_dir).with_suffix("").parts).removesuffix(".__init__")
               for p in pkg_dir.rglob("*.py") if p.stem != "__main__"})
failed, overrides = {}, {}
for name in mods:
    try:
        mod = importlib.import_module(name)
    except BaseException as exc:
        failed[name] = {"error": f"{type(exc).__name__}: {exc}", "missing": getattr(exc, "name", None),
                        "trace": traceback.format_exc(limit=-3)}
        continue
    for _, cls in inspect.getmembers(mod, inspect.isclass):
        if cls.__module__ != name:
            continue
        ext = [b for b in cls.__mro__ if b.__module__.split(".")[0] in libs]
        for own in (k for k in cls.__mro__ if k.__module__.startswith("swiftk_")):
            for attr, value in vars(own).items():
                if not attr.startswith("_") or attr.startswith("__"):
                    continue
                if not (callable(value) or isinstance(value, (property, staticmethod, classmethod))):
                    continue
                for base in ext:
                    if attr in vars(base):
                        lib = base.__module__.split(".")[0]
                        overrides.setdefault(lib, []).append(f"{cls.__qualname__}.{attr} ({base.__qualname__})")
                        break
print(json.dumps({"modules": mods, "failed": failed, "overrides": overrides,
                  "present": {p: importlib.util.find_spec(p) is not None for p in probes if p}}))
"""


def _env() -> dict:
    env = swiftk_env({"PYTHONNOUSERSITE": "1", "TOKENIZERS_PARALLELISM": "false"})
    for var in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(var, None)
    return env


def _run(cmd, timeout: float = 600, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=_env(), timeout=timeout, **kw)
    if check:
        assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _site_packages(env_dir: Path) -> Path:
    return next((env_dir / "lib").glob("python3*/site-packages"))


def _wheel_meta(whl: Path) -> tuple[str, list[str], dict[str, str]]:
    """(name, Requires-Dist lines, swiftk entry points) of a built wheel."""
    with zipfile.ZipFile(whl) as z:
        info = next(n.split("/")[0] for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = z.read(f"{info}/METADATA").decode()
        try:
            eps = z.read(f"{info}/entry_points.txt").decode()
        except KeyError:
            eps = ""
    name = next(line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Name:"))
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines() if line.startswith("Requires-Dist:")]
    group, points = None, {}
    for line in eps.splitlines():
        line = line.strip()
        if line.startswith("["):
            group = line.strip("[]")
        elif "=" in line and group == "swiftk":
            key, value = (s.strip() for s in line.split("=", 1))
            points[key] = value
    return name, requires, points


def _applies(req: Requirement, extras: tuple[str, ...]) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in ("",) + extras)


def _repack(dist: metadata.Distribution, dest: Path) -> None:
    """Zip an installed distribution back into a wheel (files unchanged, no scripts: pip regenerates them)."""
    files = [f for f in (dist.files or []) if not str(f).startswith("..") and "__pycache__" not in f.parts]
    info = next((f.parent for f in files if f.name == "METADATA" and f.parent.name.endswith(".dist-info")), None)
    assert info is not None, f"{dist.metadata['Name']}: no RECORD in this venv, it cannot be repacked"
    base = Path(dist.locate_file(""))
    tags = [
        line.split(":", 1)[1].strip()
        for line in (base / info / "WHEEL").read_text().splitlines()
        if line.startswith("Tag:")
    ]
    tag = "-".join(".".join(sorted({t.split("-")[i] for t in tags})) for i in range(3))
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    skip = {f"{info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    record = []
    with zipfile.ZipFile(dest / f"{name}-{dist.version}-{tag}.whl", "w", zipfile.ZIP_STORED) as z:
        for f in files:
            if str(f) not in skip and (base / f).is_file():
                z.write(base / f, str(f))
                record.append(f"{f},,")
        z.writestr(f"{info}/RECORD", "\n".join(record + [f"{info}/RECORD,,"]) + "\n")


class Matrix:
    """Wheels of the kernel and every plugin, a wheelhouse of their third-party dependencies, a torch base."""

    def __init__(self, root: Path):
        self.root = root
        self.wheels = root / "wheels"
        self.house = root / "wheelhouse"
        self._torch_base = None
        self._venvs: dict[str, PluginEnv] = {}
        self.plugin_of = {canonicalize_name(f"swift-plugin-{p}"): p for p in PLUGINS}
        self.times = {}
        t0 = time.perf_counter()
        src = root / "src"
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "tests", "output")
        shutil.copytree(ROOT / "kernel", src / "kernel", ignore=ignore)
        for f in ROOT.iterdir():
            if f.is_file():
                shutil.copy2(f, src / f.name)
        for name in PLUGINS:
            shutil.copytree(ROOT / "plugins" / name, src / "plugins" / name, ignore=ignore)
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                self.wheels,
                src,
                *(src / "plugins" / n for n in PLUGINS),
            ]
        )
        self.local = {}  # canonical name -> (requires, swiftk entry points)
        for whl in self.wheels.glob("*.whl"):
            name, requires, points = _wheel_meta(whl)
            self.local[canonicalize_name(name)] = (requires, points)
        self.times["wheels"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        self.installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
        needed, self.missing = set(), set()
        for name in PLUGINS:
            needed |= self.closure(f"swift-plugin-{name}")[1]
        self.house.mkdir()
        for name in sorted(needed - {"torch"}):
            if name in self.installed:
                _repack(self.installed[name], self.house)
            else:
                self.missing.add(name)
        self.times["wheelhouse"] = time.perf_counter() - t0

    def closure(self, dist: str) -> tuple[set[str], set[str], list[tuple[str, Requirement]]]:
        """(local distributions, third-party distributions, requirements of the local ones) that
        installing ``dist`` brings, resolved against this venv's installed metadata."""
        local, third, reqs = set(), set(), []
        todo = [(Requirement(dist), "")]
        while todo:
            req, parent = todo.pop()
            name = canonicalize_name(req.name)
            if name in self.local:
                if name not in local:
                    local.add(name)
                    for line in self.local[name][0]:
                        sub = Requirement(line)
                        if _applies(sub, ()):
                            reqs.append((name, sub))
                            todo.append((sub, name))
                continue
            key = (name, tuple(sorted(req.extras)))
            if key in third:
                continue
            third.add(key)
            dist_ = self.installed.get(name)
            for line in (dist_.requires or []) if dist_ else []:
                sub = Requirement(line)
                if _applies(sub, tuple(req.extras)):
                    todo.append((sub, name))
        return local, {n for n, _ in third}, reqs

    def torch_base(self) -> Path:
        """A venv holding only torch (this venv's version, the CPU build) and what torch requires."""
        if self._torch_base is None:
            t0 = time.perf_counter()
            base = self.root / "torch-base"
            venv.EnvBuilder(with_pip=False).create(base)
            version = self.installed["torch"].version.split("+")[0]
            # torch from pip's configured sources (as `make install`), what it needs from the wheelhouse
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "--python",
                base / "bin" / "python",
                "install",
                "-q",
                "--no-compile",
                "--no-index",
                "--find-links",
                self.house,
                f"torch=={version}",
            ]
            if _run(cmd, check=False).returncode != 0:  # not there: this venv's own torch, repacked
                _repack(self.installed["torch"], self.house)
                _run(cmd)
            self._torch_base = _site_packages(base)
            self.times["torch base"] = time.perf_counter() - t0
        return self._torch_base

    def venv(self, plugin: str) -> "PluginEnv":
        """A fresh venv where pip installed swift-plugin-<plugin>; built once, on demand.

        Its site-packages sees, through a .pth file, the torch base (when its dependencies need torch) and
        the venvs of the plugins it depends on (each holding that plugin's own dependencies, so a subset of
        this one's): pip finds those satisfied and installs the rest, so what is importable is exactly the
        plugin's dependency closure, and each third-party distribution is unpacked about once a session."""
        if plugin in self._venvs:
            return self._venvs[plugin]
        dist = canonicalize_name(f"swift-plugin-{plugin}")
        local, third, reqs = self.closure(dist)
        deps = sorted(self.plugin_of[n] for n in local if n in self.plugin_of and n != dist)
        layers = [self.venv(d).site for d in deps]  # each built (and timed) once
        t0 = time.perf_counter()
        if "torch" in third:
            layers.insert(0, self.torch_base())
        env_dir = self.root / "venvs" / plugin
        venv.EnvBuilder(with_pip=False).create(env_dir)
        site = _site_packages(env_dir)
        if layers:
            (site / "_matrix_layers.pth").write_text("".join(f"{p}\n" for p in layers))
        py = env_dir / "bin" / "python"
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                py,
                "install",
                "-q",
                "--no-compile",
                "--no-index",
                "--find-links",
                self.wheels,
                "--find-links",
                self.house,
                f"swift-plugin-{plugin}",
            ]
        )
        freeze = _run([sys.executable, "-m", "pip", "--python", py, "freeze", "--all", "--path", site]).stdout
        own = {canonicalize_name(re.split(r"[=@ ]", line, maxsplit=1)[0]) for line in freeze.split("\n") if line}
        env = PluginEnv(plugin, env_dir, site, py, local, third, reqs, deps, own, time.perf_counter() - t0)
        self._venvs[plugin] = env
        return env


class PluginEnv:
    def __init__(self, plugin, env_dir, site, py, local, third, reqs, deps, own, seconds):
        self.plugin, self.env_dir, self.site, self.py = plugin, env_dir, site, py
        self.local, self.third, self.reqs, self.deps, self.own, self.seconds = local, third, reqs, deps, own, seconds
        script = env_dir / "bin" / "swiftk"
        # the kernel's console script when pip installed the kernel here, else its code (a layer holds it)
        self.swiftk = [script] if script.exists() else [py, "-m", "swiftk"]


@pytest.fixture(scope="session")
def matrix(tmp_path_factory):
    root = tmp_path_factory.mktemp("packaging-matrix")
    try:
        m = Matrix(root)
        yield m
        print(f"\npackaging matrix, shared setup: {', '.join(f'{k} {v:.1f}s' for k, v in m.times.items())}")
    finally:
        # about 3 GB of venvs: removed in the background, so the session's end does not wait on the disk
        subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True, stdout=DEVNULL, stderr=DEVNULL)


def _upper_bounded(reqs: list[tuple[str, Requirement]], lib: str) -> bool:
    return any(
        canonicalize_name(r.name) == lib and any(s.operator in ("<", "<=", "==", "===", "~=") for s in r.specifier)
        for _, r in reqs
    )


@pytest.mark.slow
@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_alone_in_a_fresh_venv(plugin, matrix):
    dist = f"swift-plugin-{plugin}"
    local, third, _ = matrix.closure(dist)
    assert not (third & matrix.missing), (
        f"{dist} needs {sorted(third & matrix.missing)}, not installed in the dev venv (requirements/cpu.txt)"
    )
    points = matrix.local[canonicalize_name(dist)][1]
    assert plugin in points, f"{dist} has no swiftk entry point named {plugin}: {points}"
    package = points[plugin].split(".")[0].split(":")[0]
    needs_torch = "torch" in third

    t0 = time.perf_counter()
    env = matrix.venv(plugin)
    t_install = time.perf_counter() - t0
    assert canonicalize_name(dist) in env.own
    assert "torch" not in env.own, "pip installed torch into the plugin's venv instead of taking the base's"

    # the plugin (and each plugin it depends on) loads and registers, with no failure
    proc = _run([*env.swiftk, "plugins", "--json"])
    assert "failed" not in proc.stderr, proc.stderr
    listed = {p["name"]: p for p in json.loads(proc.stdout)}
    assert sorted(listed) == sorted([plugin, *env.deps]), proc.stdout
    assert listed[plugin]["distribution"] == dist
    registers = SMOKE.get(plugin, (None,))[0]
    if registers:
        kind, name = registers
        assert name in listed[plugin]["registers"].get(kind, []), listed[plugin]

    # every module of the package imports with only the declared dependencies
    engine = GPU_ONLY.get(plugin, "")
    proc = _run([env.py, "-c", _IMPORT_ALL, package, ",".join(BOUNDED_LIBS), f"torch,{engine}"], timeout=300)
    report = json.loads(proc.stdout.splitlines()[-1])
    assert len(report["modules"]) >= 2, report["modules"]  # __init__ and plugin at least
    unexpected = {
        m: f["trace"]
        for m, f in report["failed"].items()
        if not (m in OPTIONAL_MODULES and (f["missing"] or "").split(".")[0] == OPTIONAL_MODULES[m])
    }
    assert not unexpected, (
        f"modules of {dist} fail to import in a venv holding only its declared dependencies "
        f"(an undeclared dependency?):\n" + "\n".join(f"{m}:\n{t}" for m, t in unexpected.items())
    )
    assert report["present"]["torch"] is needs_torch, f"torch importable: {report['present']['torch']}"
    if engine:
        assert report["present"][engine] is False, f"{engine} is importable: the smoke must run without it"

    # a plugin overriding private trl/transformers methods pins an upper bound on that library
    unbounded = {lib: found for lib, found in report["overrides"].items() if not _upper_bounded(env.reqs, lib)}
    assert not unbounded, (
        f"{dist} overrides private methods of {sorted(unbounded)} without an upper bound on "
        f"it (in its own dependencies or those of a plugin it requires): {unbounded}"
    )

    # one command
    argv, expect = SMOKE.get(plugin, (None, ["--help"], "Usage:"))[1:]
    proc = _run([*env.swiftk, *argv], timeout=300)
    assert expect in proc.stdout, proc.stdout[-3000:]
    assert "failed" not in proc.stderr, proc.stderr
    print(
        f"\n{plugin}: venv {env.seconds:.1f}s (with the venvs it needed: {t_install:.1f}s), checks "
        f"{time.perf_counter() - t0 - t_install:.1f}s; {len(env.own)} distributions installed here, layers: "
        f"{'torch base, ' if needs_torch else ''}{', '.join(env.deps) or '-'}"
    )
