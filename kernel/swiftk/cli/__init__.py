"""The ``swiftk`` command line (click).

``swiftk <ms-swift command> ...`` parses with the kernel's arguments and runs the plugin that
implements the command; ``swiftk plugins`` and ``swiftk run`` belong to the kernel; plugins add
commands with ``register_commands``, listed without being imported.  Usage errors print one
line and exit with code 2 (a traceback only with ``SWIFTK_DEBUG=1``); a full disk prints one line
and exits with 1; SIGTERM during training unwinds as Ctrl-C does and exits with 143 (Ctrl-C: 130).
"""

from __future__ import annotations

import difflib
import errno
import os
import signal
import sys
import traceback
from typing import Any, Optional, Sequence

import click

from swiftk import __version__
from swiftk.cli.builtin import BUILTIN_COMMANDS
from swiftk.errors import UsageError
from swiftk.startup import tune_allocator

_PASS_THROUGH = dict(ignore_unknown_options=True, allow_extra_args=True, help_option_names=[])


class KernelParsedCommand(click.Command):
    """A command whose raw arguments go to the kernel's own parser: the ms-swift commands, and
    plugin commands declared with ``arguments=[...]``."""

    def __init__(self, name: str, help_text: str):
        super().__init__(
            name,
            help=help_text,
            short_help=help_text,
            context_settings=_PASS_THROUGH,
            add_help_option=False,
            callback=self._run,
        )
        self.params = [click.Argument(["argv"], nargs=-1, type=click.UNPROCESSED)]

    def _run(self, argv: Sequence[str]) -> None:
        from swiftk.cli.builtin import invoke

        code, _ = invoke(self.name, list(argv))
        raise SystemExit(code)


class SwiftkGroup(click.Group):
    """Built-in commands, kernel commands, then plugin commands (loaded only when run)."""

    def _plugin_commands(self) -> dict[str, Any]:
        from swiftk.host import get_host

        return {e.name: e for e in get_host().registry("commands").entries() if e.name not in BUILTIN_COMMANDS}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*BUILTIN_COMMANDS, *sorted(self.commands), *sorted(self._plugin_commands())]

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name in BUILTIN_COMMANDS:
            return KernelParsedCommand(name, BUILTIN_COMMANDS[name])
        if name in self.commands:
            return self.commands[name]
        entry = self._plugin_commands().get(name)
        if entry is None:
            return None
        if "arguments" in entry.meta:
            return KernelParsedCommand(name, entry.meta.get("help", ""))
        command = entry.load()
        if not isinstance(command, click.Command):
            raise UsageError(
                f"plugin '{entry.plugin}' registered command '{name}' as {command!r}, which is "
                f"neither a click.Command nor declared with arguments=[...]"
            )
        return command

    def resolve_command(self, ctx: click.Context, args: list[str]):
        name = args[0] if args else ""
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            known = self.list_commands(ctx)
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; valid: {', '.join(known)}"
            raise UsageError(f"unknown command '{name}'{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands from their registered help text, without importing plugin commands."""
        rows = [(n, h) for n, h in BUILTIN_COMMANDS.items()]
        rows += [(n, c.get_short_help_str(70)) for n, c in sorted(self.commands.items())]
        for name, entry in sorted(self._plugin_commands().items()):
            rows.append((name, f"{entry.meta.get('help', '')} [{entry.plugin}]".strip()))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=SwiftkGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Each command takes --help, --config FILE and --print_args. "
    "NPROC_PER_NODE/NNODES start training under torchrun. Docs: docs/cli.md",
)
@click.version_option(__version__, prog_name="swiftk")
def cli() -> None:
    """swift-kernel: fine-tune, align, run, serve, evaluate and export LLMs through plugins."""


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of plugins.")
@click.option(
    "--external_plugins",
    "--custom_register_path",
    "files",
    multiple=True,
    metavar="FILE.py",
    help="Also load these plugin files (repeatable), as a command given them would.",
)
def plugins_command(as_json: bool, files: tuple) -> None:
    """List plugins, their distributions and every name they register (and those that failed, with why)."""
    from swiftk.cli.plugins import show_plugins

    if files:
        from swiftk.external import load_plugin_files
        from swiftk.host import get_host

        load_plugin_files(get_host(), list(files), "--external_plugins")
    raise SystemExit(show_plugins(as_json))


@cli.command("run", context_settings=_PASS_THROUGH)
@click.argument("job")
@click.argument("overrides", nargs=-1, type=click.UNPROCESSED)
def run_command(job: str, overrides: Sequence[str]) -> None:
    """Run a job file: one command, or steps in order (overrides apply to every step)."""
    from swiftk.cli.jobs import run_job

    raise SystemExit(run_job(job, list(overrides)))


def _error(message: str) -> int:
    first = " ".join(str(message).split("\n")) if "\n" in str(message) else str(message)
    sys.stderr.write(f"swiftk: error: {first}\n")
    return 2


def _interrupted(exc: Optional[BaseException], debug: bool) -> int:
    """One line and 128 + the signal: 143 for SIGTERM, 130 for Ctrl-C (and for EOF at a prompt)."""
    if debug and exc is not None:
        traceback.print_exception(exc)
    from swiftk.signals import Terminated

    if isinstance(exc, Terminated):
        sys.stderr.write("swiftk: interrupted by SIGTERM\n")
        return 128 + signal.SIGTERM
    sys.stderr.write("swiftk: interrupted\n" if isinstance(exc, KeyboardInterrupt) else "swiftk: aborted\n")
    return 128 + signal.SIGINT


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point of the ``swiftk`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv) or ["--help"]
    debug = os.environ.get("SWIFTK_DEBUG", "") not in ("", "0")
    tune_allocator()
    try:
        cli.main(args=argv, prog_name="swiftk", standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        code = _error(str(exc))
    except click.exceptions.Abort as exc:  # click's wrapping of Ctrl-C (and of EOF at a prompt)
        code = _interrupted(exc.__cause__, debug)
    except click.ClickException as exc:
        if debug:
            traceback.print_exc()
        code = _error(exc.format_message())
    except KeyboardInterrupt as exc:
        code = _interrupted(exc, debug)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        if debug:
            traceback.print_exc()  # a disk that filled up: the path and the fact, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or "no space left on device"
        sys.stderr.write(f"swiftk: error: {where}{reason[:1].lower()}{reason[1:]}\n")
        code = 1
    sys.exit(code)
