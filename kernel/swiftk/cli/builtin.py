"""The ms-swift commands: their arguments are the kernel's, their implementation a plugin's.

``swiftk sft ...`` parses with the kernel's argument dataclasses (so ``--help``, ``--print_args``
and ``args.json`` never depend on what is installed), then calls the ``run(args)`` that a plugin
registered under the command's name with ``register_commands``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Mapping, Optional, Sequence

from swiftk.errors import UsageError
from swiftk.registry import load_reference

#: Built-in command -> one line for ``swiftk --help``.
BUILTIN_COMMANDS: dict[str, str] = {
    "sft": "Supervised fine-tuning (full or with a tuner).",
    "pt": "Pre-training: the loss on every token, generation template.",
    "rlhf": "Preference and RL training: dpo, orpo, simpo, kto, cpo, rm, ppo, grpo.",
    "infer": "Chat with a model in the terminal, or run it over a dataset.",
    "deploy": "Serve a model over an OpenAI-compatible HTTP API.",
    "app": "A chat web app in front of a model.",
    "web-ui": "The web UI for training, inference and deployment.",
    "eval": "Evaluate a model on benchmarks.",
    "export": "Merge adapters, quantize, or push a model to a hub.",
    "sample": "Sample and score responses (rejection sampling, MCTS).",
    "merge-lora": "Merge LoRA adapters into their base model.",
    "rollout": "Serve rollouts to GRPO training (--use_vllm true --vllm_mode server) with vLLM.",
}

#: Built-in commands whose pipeline is the kernel's own (it fetches what it needs from the registries,
#: e.g. the trainer of ``--rlhf_type``); a plugin registering the command replaces it.
KERNEL_PIPELINES: dict[str, str] = {
    "sft": "swiftk.pipelines.train:run",
    "pt": "swiftk.pipelines.train:run",
    "rlhf": "swiftk.pipelines.train:run",
    "export": "swiftk.pipelines.export:run",
    "merge-lora": "swiftk.pipelines.export:run",
}

#: Commands whose pipeline refuses an occupied ``--output_dir`` before writing its args.json there itself
#: (``sample``: several runs share one folder, e.g. the shards of ``--data_range``; each locks its own file).
CHECKS_ITS_OUTPUT_DIR = frozenset({"export", "merge-lora", "sample"})

#: Flags every command takes that are not arguments of the run itself.
CONFIG_FLAG = "--config"
PRINT_ARGS_FLAG = "--print_args"
PLUGIN_FILE_FLAGS = ("custom_register_path", "external_plugins")


def kernel_groups(command: str) -> list[type]:
    """The kernel's argument dataclasses of a built-in command."""
    from swiftk.arguments.commands import COMMANDS

    return list(COMMANDS[command])


def plugin_groups(command: str) -> list[type]:
    """Argument groups plugins added to ``command`` with ``register_arguments``."""
    from swiftk.host import get_host

    groups = []
    for entry in get_host().registry("arguments").entries():
        commands = entry.meta.get("commands", ())
        if isinstance(commands, str):
            commands = (commands,)
        if command in commands or "*" in commands:
            groups.append(entry.load())
    return groups


def base_groups(command: str) -> list[type]:
    """The groups ``command`` is defined with: the kernel's, or those its plugin declared."""
    from swiftk.host import get_host

    if command in BUILTIN_COMMANDS:
        return kernel_groups(command)
    entry = get_host().registry("commands").entry(command)
    return [load_reference(g) for g in entry.meta.get("arguments", ())]


def make_parser(command: str):
    from swiftk.arguments.fields import arg_infos
    from swiftk.arguments.parser import CommandParser

    base, extra = base_groups(command), plugin_groups(command)
    known = {i.name for g in base for i in arg_infos(g)}
    for group in extra:
        clash = known & {i.name for i in arg_infos(group)}
        if clash:
            raise UsageError(
                f"plugin argument group {group.__name__} redefines "
                f"{', '.join('--' + c for c in sorted(clash))}, which swiftk {command} already has"
            )
        known |= {i.name for i in arg_infos(group)}
    return CommandParser(command, base + extra)


def command_arguments(command: str) -> list:
    """Every argument of ``command`` in order (:class:`swiftk.arguments.fields.ArgInfo`: name, type, default,
    help, hot, choices, section, owner), the groups plugins register included: what a form of the command shows."""
    return list(make_parser(command).infos.values())


def check_command_line(command: str, argv: Sequence[str]) -> None:
    """Parse ``swiftk <command> argv`` without running it; bad input raises one UsageError naming the flag."""
    make_parser(command).parse(list(argv))


# --- pre-parse ----------------------------------------------------------------------------


def take_flag(argv: list[str], flag: str) -> tuple[list[str], Optional[list[str]]]:
    """Remove ``flag`` and its values from ``argv``; returns (rest, values or None if absent)."""
    rest: list[str] = []
    values: Optional[list[str]] = None
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == flag or token.startswith(flag + "="):
            values = [token.split("=", 1)[1]] if "=" in token else []
            i += 1
            if "=" not in token:
                while i < len(argv) and not argv[i].startswith("--"):
                    values.append(argv[i])
                    i += 1
            continue
        rest.append(token)
        i += 1
    return rest, values


def flag_values(argv: Sequence[str], name: str) -> list[str]:
    """The values of ``--name`` in ``argv`` without removing them (last occurrence wins)."""
    _, values = take_flag(list(argv), f"--{name}")
    return values or []


def load_config_file(path: str) -> dict[str, Any]:
    """A YAML or JSON file of arguments (``--config``)."""
    if not os.path.isfile(path):
        raise UsageError(f"--config: no such file: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise UsageError(
            f"--config: {path} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {str(exc).splitlines()[0]}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"--config: {path} must hold a mapping of argument names to values, got {type(data).__name__}")
    return data


def load_plugin_files_from(command: str, argv: list[str], config: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Phase one of parsing: load ``--custom_register_path``/``--external_plugins`` files so that
    the names they register are valid in phase two.

    The page lists ``--external_plugins`` among the training arguments; later ms-swift 3.x takes it on
    every command.  Where ``command`` has no such argument, its files are loaded here and the flag
    consumed: the argv and config returned for parsing lack it."""
    from swiftk.external import load_plugin_files
    from swiftk.host import get_host

    for name in PLUGIN_FILE_FLAGS:
        paths = flag_values(argv, name)
        if not paths:
            configured = config.get(name) or []
            paths = [configured] if isinstance(configured, str) else list(configured)
        load_plugin_files(get_host(), paths, f"--{name}")
        if paths and name not in make_parser(command).infos:
            argv, _ = take_flag(argv, f"--{name}")
            config = {k: v for k, v in config.items() if k != name}
    return argv, config


# --- resolving and running -----------------------------------------------------------------


def resolve_arguments(
    command: str, argv: Sequence[str], config: Optional[Mapping[str, Any]] = None, config_name: str = CONFIG_FLAG
):
    """Parse, fill from a saved ``args.json`` (load_args), derive defaults, check plugin needs."""
    from swiftk.arguments.parser import Arguments, check_plugin_arguments

    parser = make_parser(command)
    values, explicit = parser.parse(argv, config, config_name)
    given = {name: values[name] for name in explicit}
    if command in BUILTIN_COMMANDS:
        from swiftk.arguments.derive import derive_defaults
        from swiftk.arguments.load_args import apply_saved_args, expand_adapter_checkpoints

        values = expand_adapter_checkpoints(values, explicit)
        values = apply_saved_args(command, values, explicit)
        values = derive_defaults(command, values, explicit)
    check_plugin_arguments(parser, values, explicit)
    return Arguments(command, values, explicit, parser, given)


def execute(command: str, args) -> int:
    """Run a resolved command through the plugin that implements it; returns the exit code."""
    from swiftk.host import get_host
    from swiftk.io import claim_output_dir

    host = get_host()
    commands = host.registry("commands")
    if command in commands or command not in KERNEL_PIPELINES:
        run = commands.get(command)
    else:
        run = load_reference(KERNEL_PIPELINES[command])
    host.hook.post_args_parse(command=command, args=args)
    if "model_kwargs" in args:
        from swiftk.arguments.model_env import set_model_kwargs

        set_model_kwargs(args.model_kwargs)  # model plugins read them with get_model_arg
    output_dir = args.get("output_dir")
    if output_dir and command not in CHECKS_ITS_OUTPUT_DIR:
        claim_output_dir(output_dir, args.save)  # the lock before args.json
    result = run(args)
    return int(result or 0)


def invoke(
    command: str, argv: Sequence[str], extra_config: Optional[Mapping[str, Any]] = None, launch: bool = True
) -> tuple[int, Any]:
    """The whole of ``swiftk <command> argv``: help, config, plugin files, parse, run.

    ``extra_config`` (from a job file) sits below ``--config`` and the command line.
    Returns ``(exit code, Arguments or None)``.
    """
    argv = list(argv)
    if "--help" in argv or "-h" in argv:
        from swiftk.arguments.help import format_help

        summary = BUILTIN_COMMANDS.get(command) or _plugin_help(command)
        sys.stdout.write(format_help(make_parser(command), summary) + "\n")
        return 0, None
    argv, print_args = take_flag(argv, PRINT_ARGS_FLAG)
    argv, config_path = take_flag(argv, CONFIG_FLAG)
    config: dict[str, Any] = dict(extra_config or {})
    if config_path is not None:
        if len(config_path) != 1:
            raise UsageError("--config expects one file path")
        config.update(load_config_file(config_path[0]))
    parsed_argv, parsed_config = load_plugin_files_from(command, argv, config)
    config_name = config_path[0] if config_path else "job file"
    args = resolve_arguments(command, parsed_argv, parsed_config, config_name=config_name)
    if print_args is not None:
        from swiftk.pipelines.model import preview_resolution

        shown = {"command": command, **args.to_dict()}
        for name, value in preview_resolution(args).items():
            if shown.get(name) is None:
                shown[name] = value
        sys.stdout.write(json.dumps(shown, ensure_ascii=False, indent=2) + "\n")
        return 0, args
    if launch:
        from swiftk.cli.launch import maybe_launch

        code = maybe_launch(command, argv, config, args)
        if code is not None:
            return code, args
    return execute(command, args), args


def _plugin_help(command: str) -> str:
    from swiftk.host import get_host

    return get_host().registry("commands").entry(command).meta.get("help", "")
