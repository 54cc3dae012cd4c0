"""What ``--report_to`` needs before a training run starts (``post_args_parse``), before the model loads.

- every tracker named is installed and imports, else one line naming what to install (``all``: the installed ones
  among tensorboard, wandb, swanlab and mlflow, announced in one line with those it skipped);
- each tracker writes where the run writes, unless its own environment variable says otherwise: wandb's
  offline and online runs under ``<output_dir>/wandb`` (``WANDB_DIR``), swanlab's under
  ``<output_dir>/swanlog`` (``SWANLAB_LOG_DIR``), mlflow a file store ``<output_dir>/mlruns``
  (``MLFLOW_TRACKING_URI``);
- a cloud swanlab run and an online wandb run need a credential: without one the run stops here with one
  line naming the fix (``all``: that tracker is skipped, and the announce line says so);
- ``swanlab`` logs through swanlab's own transformers callback, built from the SWANLAB arguments
  (``swanlab_token``: an in-memory ``swanlab.login(..., save=False)`` on rank 0 when the run starts, never
  an environment variable or a file);
- the values of secret arguments (``*_token``, ``*_key``) are masked in ``sys.argv`` (whole values only),
  which wandb records in its run metadata; swanlab records ``/proc/self/cmdline`` instead, so its runtime
  metadata is off when that holds a secret;
- what this module changes for a run (``SWANLAB_PROJECT``, transformers' swanlab callback) is put back
  when the run ends (:func:`restore`, from ``swiftk_trackers.callback``);
- mlflow's file store is allowed (``MLFLOW_ALLOW_FILE_STORE``: mlflow 3 refuses it by default).
"""

from __future__ import annotations

import importlib.util
import netrc
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Optional

from swiftk.api import UsageError, is_main_process

TRAIN_COMMANDS = ("sft", "pt", "rlhf")
DIST = "swift-plugin-trackers"
MASK = "***"

#: the trackers this plugin provides: --report_to name -> the module its extra installs
OURS = {"wandb": "wandb", "swanlab": "swanlab", "mlflow": "mlflow"}
#: what ``--report_to all`` considers, in this order
ALL = ("tensorboard", "wandb", "swanlab", "mlflow")
#: transformers' other integrations: name -> (module, what to pip install); None: no library to check
OTHERS: dict[str, Optional[tuple[str, str]]] = {
    "tensorboard": ("tensorboard", "tensorboard"),
    "azure_ml": ("azureml", "azureml-core"),
    "comet_ml": ("comet_ml", "comet-ml"),
    "neptune": ("neptune", "neptune"),
    "trackio": ("trackio", "trackio"),
    "codecarbon": ("codecarbon", "codecarbon"),
    "clearml": ("clearml", "clearml"),
    "dagshub": ("dagshub", "dagshub"),
    "flyte": ("flytekit", "flytekit"),
    "dvclive": ("dvclive", "dvclive"),
    "kubeflow": None,
}
#: the trackers whose runs receive the resolved arguments (swiftk_trackers.callback)
CONFIG_TRACKERS = tuple(OURS)


#: the environment variables this module set, with their values: a later run in the same process (tests, a
#: job of several runs) replaces them, while a value the user set is left alone
_SET_HERE: dict[str, str] = {}
#: what :func:`restore` puts back when the run ends: ``env`` (name -> the user's value) and ``swanlab_callback``
#: (transformers' own ``INTEGRATION_TO_CALLBACK["swanlab"]``)
_RESTORE: dict[str, Any] = {}


def set_default_env(name: str, value: str) -> str:
    """``os.environ[name] = value`` unless the user set ``name``; returns the value in force."""
    current = os.environ.get(name)
    if current is None or _SET_HERE.get(name) == current:
        os.environ[name] = _SET_HERE[name] = value
        return value
    return current


def announce(line: str) -> None:
    """One line on stdout, as the kernel's notices (``[swiftk] ...``)."""
    print(f"[swiftk] {line}", flush=True)


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (``sys.modules[name] = None`` hides one)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def report_to_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def tracked(args: Any) -> list[str]:
    """The trackers of :data:`CONFIG_TRACKERS` the run reports to."""
    return [n for n in report_to_list(args.get("report_to")) if n in CONFIG_TRACKERS]


def _install_hint(name: str) -> tuple[str, str]:
    """(the module, the pip install command) of tracker ``name``."""
    if name in OURS:
        return OURS[name], f"pip install '{DIST}[{name}]'"
    module, pip = OTHERS[name]  # type: ignore[misc]
    return module, f"pip install {pip}"


def _usable(name: str) -> bool:
    if name in OURS:
        return installed(OURS[name])
    spec = OTHERS.get(name)
    if spec is None:
        return True
    return installed(spec[0]) or (name == "tensorboard" and installed("tensorboardX"))


def resolve_report_to(names: list[str], args: Any = None) -> list[str]:
    """The trackers to enable: ``all`` expanded (and announced), each name checked: installed, and (with
    ``args``) a credential for a cloud swanlab run or an online wandb run."""
    valid = [*OURS, *OTHERS]
    for name in names:
        if name not in valid and name not in ("all", "none"):
            raise UsageError(f"--report_to {name}: not a tracker; valid: {', '.join(['all', 'none', *valid])}")
    if "all" in names:
        installed_ = [n for n in ALL if _usable(n)]
        skipped = [n for n in ALL if n not in installed_]
        no_key = [n for n in installed_ if args is not None and credential_problem(n, args)]
        enabled = [n for n in installed_ if n not in no_key]
        if is_main_process():
            line = f"--report_to all: reporting to {', '.join(enabled) or 'nothing'}"
            if skipped:
                hints = "; ".join(f"{n}: {_install_hint(n)[1]}" for n in skipped)
                line += f"; skipped {', '.join(skipped)}, not installed ({hints})"
            if no_key:
                hints = "; ".join(f"{n}: {SHORT_FIX[n]}" for n in no_key)
                line += f"; skipped {', '.join(no_key)}, no credentials ({hints})"
            announce(line)
        names = enabled + [n for n in names if n != "all" and n not in installed_]
    for name in names:
        if not _usable(name):
            module, hint = _install_hint(name)
            raise UsageError(f"--report_to {name} needs {module}, which is not installed: {hint}")
        problem = credential_problem(name, args) if args is not None else None
        if problem:
            raise UsageError(problem)
    return names


#: the fix for a missing credential, as the ``all`` line names it
SHORT_FIX = {
    "swanlab": "pass --swanlab_token, set SWANLAB_API_KEY or use --swanlab_mode local",
    "wandb": "set WANDB_API_KEY, run `wandb login` or use WANDB_MODE=offline",
}


def _netrc_hosts(path: Path) -> dict:
    """The entries of the .netrc file ``path`` ({} when it is absent or unreadable)."""
    try:
        if not path.is_file():
            return {}
        return netrc.netrc(str(path)).hosts
    except (OSError, netrc.NetrcParseError):
        return {}


def swanlab_cloud(args: Any) -> bool:
    """Whether the swanlab run goes to the cloud (``--swanlab_mode``, else ``SWANLAB_MODE``, as
    :func:`configure_swanlab` decides)."""
    env_mode = os.environ.get("SWANLAB_MODE")
    if env_mode is None or "swanlab_mode" in getattr(args, "explicit", ()):
        return args.get("swanlab_mode", "cloud") in ("cloud", None)
    return env_mode.strip().lower() in ("cloud", "online")


def swanlab_has_credential(args: Any) -> bool:
    """A SwanLab API key where swanlab 0.10 looks (its ``Settings.load_api_key``): ``--swanlab_token``,
    ``SWANLAB_API_KEY``, ``./.swanlab/.netrc``, then ``$SWANLAB_ROOT`` (or ``$SWANLAB_SAVE_DIR``, or
    ``~/.swanlab``) ``/.netrc``."""
    if args.get("swanlab_token") or os.environ.get("SWANLAB_API_KEY", "").strip():
        return True
    root = os.environ.get("SWANLAB_ROOT") or os.environ.get("SWANLAB_SAVE_DIR") or str(Path.home() / ".swanlab")
    return any(_netrc_hosts(folder / ".netrc") for folder in (Path.cwd() / ".swanlab", Path(root)))


def wandb_online() -> bool:
    return os.environ.get("WANDB_MODE", "").strip().lower() not in ("offline", "disabled", "dryrun")


def wandb_has_credential() -> bool:
    """A W&B API key where wandb looks: ``WANDB_API_KEY`` (or ``WANDB_IDENTITY_TOKEN_FILE``), else the .netrc
    file (``$NETRC``, ``~/.netrc`` or ``~/_netrc``) with an entry for the host of ``WANDB_BASE_URL``
    (``api.wandb.ai``)."""
    if os.environ.get("WANDB_API_KEY", "").strip() or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    if os.environ.get("NETRC"):
        path = Path(os.environ["NETRC"]).expanduser()
    else:
        path = Path("~/.netrc").expanduser()
        if not path.exists() and Path("~/_netrc").expanduser().exists():
            path = Path("~/_netrc").expanduser()
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").netloc or "api.wandb.ai"
    entry = _netrc_hosts(path).get(host) or _netrc_hosts(path).get(host.split(":")[0])
    return bool(entry and entry[2])


def credential_problem(name: str, args: Any) -> Optional[str]:
    """One line naming the fix when tracker ``name`` would need a credential it does not have, else None."""
    if name == "swanlab" and swanlab_cloud(args) and not swanlab_has_credential(args):
        return (
            "--report_to swanlab in cloud mode needs a SwanLab API key: pass --swanlab_token, set SWANLAB_API_KEY "
            "(or run `swanlab login`), or use --swanlab_mode local"
        )
    if name == "wandb" and wandb_online() and not wandb_has_credential():
        return (
            "--report_to wandb online needs a W&B API key: set WANDB_API_KEY (or run `wandb login`), "
            "or use WANDB_MODE=offline"
        )
    return None


def _swanlab_mode(mode: Optional[str]) -> str:
    """swanlab 0.10's mode for the page's ``cloud``/``local``: ``local`` is swanlab's own local mode when
    swanboard (its dashboard, ``swanlab watch``) is installed, else ``offline``, which writes the same run
    folder without registering it with a dashboard (``swanlab sync`` uploads it later)."""
    if mode == "local":
        return "local" if installed("swanboard") else "offline"
    return "cloud"


def configure_swanlab(args: Any, output_dir: str) -> dict:
    """The SWANLAB arguments as swanlab's own transformers callback takes them (see :func:`use_swanlab_callback`)."""
    env = os.environ
    # transformers documents SWANLAB_PROJECT, which swanlab 0.10's settings parse as a JSON object: move it
    # aside for this run (SWANLAB_PROJ_NAME when no --swanlab_project), put back by restore()
    legacy = env.get("SWANLAB_PROJECT")
    if legacy and not legacy.lstrip().startswith("{"):
        _RESTORE.setdefault("env", {}).setdefault("SWANLAB_PROJECT", legacy)
        env.pop("SWANLAB_PROJECT")
        if not args.get("swanlab_project") and "SWANLAB_PROJ_NAME" not in env:
            env["SWANLAB_PROJ_NAME"] = legacy
            _RESTORE["env"].setdefault("SWANLAB_PROJ_NAME", None)
    if "swanlab_exp_name" in args and not args.swanlab_exp_name and output_dir:
        args.swanlab_exp_name = output_dir  # as ms-swift: the experiment is named after the output folder
    kwargs: dict[str, Any] = {
        "project": args.get("swanlab_project"),
        "workspace": args.get("swanlab_workspace"),
        "experiment_name": str(args.get("swanlab_exp_name") or output_dir or "") or None,
    }
    if "SWANLAB_MODE" not in env or "swanlab_mode" in args.explicit:
        kwargs["mode"] = _swanlab_mode(args.get("swanlab_mode", "cloud"))
        if kwargs["mode"] == "offline" and is_main_process():
            announce(
                "--swanlab_mode local: swanboard (swanlab's dashboard) is not installed, so the run is saved "
                "offline in its swanlog folder; `swanlab sync <run folder>` uploads it"
            )
    if output_dir and not (env.get("SWANLAB_LOG_DIR") or env.get("SWANLAB_LOGDIR")):
        kwargs["log_dir"] = os.path.join(os.path.abspath(output_dir), "swanlog")
    return {k: v for k, v in kwargs.items() if v is not None}


def _import_or_usage_error(name: str, do):
    """``do()``, with an ImportError of tracker ``name``'s library (a broken install) as one UsageError line."""
    try:
        return do()
    except ImportError as exc:
        module, hint = _install_hint(name)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"--report_to {name}: {module} does not import ({reason}); reinstall it: {hint}") from None


def use_swanlab_callback(init_kwargs: dict, token: Optional[str] = None) -> None:
    """``--report_to swanlab`` through swanlab's own transformers integration, as ms-swift does: transformers
    5's ``SwanLabCallback`` calls ``swanlab.get_run()``, which swanlab 0.10 raises on before a run starts.
    ``token`` (``--swanlab_token``, cloud mode) logs in in memory on rank 0 before the run starts."""

    def load():
        import swanlab
        from swanlab.integration.transformers import SwanLabCallback

        return swanlab, SwanLabCallback

    swanlab, SwanLabCallback = _import_or_usage_error("swanlab", load)
    from transformers.integrations import integration_utils

    mode = init_kwargs.get("mode") or os.environ.get("SWANLAB_MODE", "cloud").strip().lower()
    cloud = mode in ("cloud", "online")

    class SwiftkSwanLabCallback(SwanLabCallback):
        swiftk = True

        def __init__(self):
            super().__init__(**init_kwargs)

        def setup(self, args, state, model=None):
            if token and cloud and not self._trainer_initialized and self._is_world_process_zero(state):
                if not swanlab.has_run():
                    swanlab.login(api_key=token, save=False, relogin=True)  # in memory: no file, no env
            super().setup(args, state, model)

    current = integration_utils.INTEGRATION_TO_CALLBACK.get("swanlab")
    if not getattr(current, "swiftk", False):
        _RESTORE["swanlab_callback"] = current
    integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] = SwiftkSwanLabCallback


def restore() -> None:
    """Put back what :func:`configure` changed for the run that ends (a later run of the process starts clean):
    transformers' swanlab callback and the user's ``SWANLAB_PROJECT``."""
    if "swanlab_callback" in _RESTORE:
        original = _RESTORE.pop("swanlab_callback")
        integration_utils = sys.modules.get("transformers.integrations.integration_utils")
        if integration_utils is not None:
            if original is None:
                integration_utils.INTEGRATION_TO_CALLBACK.pop("swanlab", None)
            else:
                integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] = original
    for name, value in _RESTORE.pop("env", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def mask_secrets_in_argv(args: Any) -> list[str]:
    """Replace the value of each secret argument in ``sys.argv`` with ``***``: the element after
    ``--name`` and the part after ``=`` of ``--name=value`` (wandb saves the command line in its run
    metadata); returns the values masked."""
    flags = set()
    for name in args.secret_names():
        flags.update({f"--{name}", f"--{name.replace('_', '-')}"})
    values: list[str] = []

    def masked(value: str) -> str:
        if value and value != MASK and value not in values:
            values.append(value)
        return MASK if value else value

    for i, token in enumerate(sys.argv):
        if token in flags and i + 1 < len(sys.argv) and not sys.argv[i + 1].startswith("--"):
            sys.argv[i + 1] = masked(sys.argv[i + 1])
        elif "=" in token and token.split("=", 1)[0] in flags:
            flag, value = token.split("=", 1)
            sys.argv[i] = f"{flag}={masked(value)}"
    return values


def command_line_holds(values: list[str]) -> bool:
    """Whether this process's own command line (``/proc/self/cmdline``, which ``sys.argv`` does not change)
    holds one of ``values``."""
    try:
        with open("/proc/self/cmdline", "rb") as f:
            cmdline = f.read().decode("utf-8", "replace")
    except OSError:
        return False
    return any(v in cmdline for v in values)


def configure(command: str, args: Any) -> None:
    secrets = mask_secrets_in_argv(args) if hasattr(args, "secret_names") else []
    if command not in TRAIN_COMMANDS or "report_to" not in args:
        return
    names = report_to_list(args.report_to)
    if not names or "none" in names:
        return
    names = resolve_report_to(names, args)
    args.report_to = names or ["none"]
    if not any(n in OURS for n in names):
        return
    output_dir = str(args.get("output_dir") or "")
    here = os.path.abspath(output_dir) if output_dir else ""
    if "wandb" in names and here:
        set_default_env("WANDB_DIR", here)
    if "mlflow" in names and here:
        uri = set_default_env("MLFLOW_TRACKING_URI", "file:" + os.path.join(here, "mlruns"))
        if uri.startswith(("file:", "/", ".")):
            # mlflow 3 refuses its file store unless told it is wanted: it is what an offline run needs
            set_default_env("MLFLOW_ALLOW_FILE_STORE", "true")
        earlier = sys.modules.get("mlflow") is not None
        mlflow = _import_or_usage_error("mlflow", lambda: __import__("mlflow"))
        if earlier:  # a run before this one in the process set mlflow's URI
            mlflow.set_tracking_uri(uri)
    for name in ("mlflow", "wandb"):  # a broken install: one line now, not a traceback once the model is loaded
        if name in names:
            _import_or_usage_error(name, lambda name=name: __import__(name))
    if "swanlab" in names:
        if _SET_HERE.get("SWANLAB_PROBE_RUNTIME") == os.environ.get("SWANLAB_PROBE_RUNTIME"):
            os.environ.pop("SWANLAB_PROBE_RUNTIME", None)  # set for an earlier run of this process
            _SET_HERE.pop("SWANLAB_PROBE_RUNTIME", None)
        if secrets and command_line_holds(secrets) and "SWANLAB_PROBE_RUNTIME" not in os.environ:
            # swanlab's runtime metadata records /proc/self/cmdline, which holds the secret
            set_default_env("SWANLAB_PROBE_RUNTIME", "false")
            if is_main_process():
                announce(
                    "a secret is on the command line: swanlab's runtime metadata (which records the command "
                    "line) is off for this run; give SWANLAB_API_KEY in the environment to keep it"
                )
        use_swanlab_callback(configure_swanlab(args, output_dir), args.get("swanlab_token"))
