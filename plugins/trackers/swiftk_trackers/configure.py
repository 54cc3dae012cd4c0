"""What ``--report_to`` needs before a training run starts (``post_args_parse``), importing no tracker.

- every tracker named is installed, else one line naming what to install (``all``: the installed ones
  among tensorboard, wandb, swanlab and mlflow, announced in one line with those it skipped);
- each tracker writes where the run writes, unless its own environment variable says otherwise: wandb's
  offline and online runs under ``<output_dir>/wandb`` (``WANDB_DIR``), swanlab's under
  ``<output_dir>/swanlog`` (``SWANLAB_LOG_DIR``), mlflow a file store ``<output_dir>/mlruns``
  (``MLFLOW_TRACKING_URI``);
- ``swanlab`` logs through swanlab's own transformers callback, built from the SWANLAB arguments
  (``swanlab_token`` as ``SWANLAB_API_KEY`` in this process's environment only, never a file);
- the values of secret arguments (``*_token``, ``*_key``) are masked in ``sys.argv``, which wandb records
  in its run metadata; swanlab records ``/proc/self/cmdline`` instead, so its runtime metadata is off
  when that holds a secret;
- mlflow's file store is allowed (``MLFLOW_ALLOW_FILE_STORE``: mlflow 3 refuses it by default).
"""

from __future__ import annotations

import importlib.util
import os
import sys
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


def resolve_report_to(names: list[str]) -> list[str]:
    """The trackers to enable: ``all`` expanded (and announced), each name checked."""
    valid = [*OURS, *OTHERS]
    for name in names:
        if name not in valid and name not in ("all", "none"):
            raise UsageError(f"--report_to {name}: not a tracker; valid: {', '.join(['all', 'none', *valid])}")
    if "all" in names:
        enabled = [n for n in ALL if _usable(n)]
        skipped = [n for n in ALL if n not in enabled]
        if is_main_process():
            line = f"--report_to all: reporting to {', '.join(enabled) or 'nothing'}"
            if skipped:
                hints = "; ".join(f"{n}: {_install_hint(n)[1]}" for n in skipped)
                line += f"; skipped {', '.join(skipped)}, not installed ({hints})"
            announce(line)
        names = enabled + [n for n in names if n != "all" and n not in enabled]
    for name in names:
        if not _usable(name):
            module, hint = _install_hint(name)
            raise UsageError(f"--report_to {name} needs {module}, which is not installed: {hint}")
    return names


def _swanlab_mode(mode: Optional[str]) -> str:
    """swanlab 0.10's mode for the page's ``cloud``/``local``: ``local`` is swanlab's own local mode when
    swanboard (its dashboard, ``swanlab watch``) is installed, else ``offline``, which writes the same run
    folder without registering it with a dashboard (``swanlab sync`` uploads it later)."""
    if mode == "local":
        return "local" if installed("swanboard") else "offline"
    return "cloud"


def configure_swanlab(args: Any, output_dir: str) -> dict:
    """The SWANLAB arguments as swanlab's own transformers callback takes them (see :func:`use_swanlab_callback`);
    the token goes to this process's environment (``SWANLAB_API_KEY``), where swanlab 0.10 reads it."""
    env = os.environ
    # transformers documents SWANLAB_PROJECT, which swanlab 0.10's settings parse as a JSON object: move it
    legacy = env.get("SWANLAB_PROJECT")
    if legacy and not legacy.lstrip().startswith("{"):
        env.pop("SWANLAB_PROJECT")
        env.setdefault("SWANLAB_PROJ_NAME", legacy)
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
    token = args.get("swanlab_token")
    if token:
        env["SWANLAB_API_KEY"] = _SET_HERE["SWANLAB_API_KEY"] = token  # this process's environment only
    elif _SET_HERE.get("SWANLAB_API_KEY") == env.get("SWANLAB_API_KEY"):  # an earlier run's token: not this one's
        env.pop("SWANLAB_API_KEY", None)
        _SET_HERE.pop("SWANLAB_API_KEY", None)
    return {k: v for k, v in kwargs.items() if v is not None}


def use_swanlab_callback(init_kwargs: dict) -> None:
    """``--report_to swanlab`` through swanlab's own transformers integration, as ms-swift does: transformers
    5's ``SwanLabCallback`` calls ``swanlab.get_run()``, which swanlab 0.10 raises on before a run starts."""
    from swanlab.integration.transformers import SwanLabCallback
    from transformers.integrations import integration_utils

    class SwiftkSwanLabCallback(SwanLabCallback):
        def __init__(self):
            super().__init__(**init_kwargs)

    integration_utils.INTEGRATION_TO_CALLBACK["swanlab"] = SwiftkSwanLabCallback


def mask_secrets_in_argv(args: Any) -> list[str]:
    """Replace each given secret's value in ``sys.argv`` with ``***`` (wandb saves the command line in its run
    metadata); returns the values masked."""
    values = [str(args.get(name)) for name in args.secret_names() if name in args and args.get(name)]
    values = [v for v in values if v and v != MASK]
    for i, token in enumerate(sys.argv):
        for value in values:
            token = token.replace(value, MASK)
        sys.argv[i] = token
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
    if command not in TRAIN_COMMANDS or "report_to" not in args:
        return
    names = report_to_list(args.report_to)
    if not names or "none" in names:
        return
    names = resolve_report_to(names)
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
        if sys.modules.get("mlflow") is not None:  # a run before this one in the process set mlflow's URI
            sys.modules["mlflow"].set_tracking_uri(uri)
    secrets = mask_secrets_in_argv(args)
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
        use_swanlab_callback(configure_swanlab(args, output_dir))
