"""How many `swift` command lines of ms-swift's own example scripts swiftk accepts (``--print_args``).

    .venv/bin/python scripts/check_mswift_examples.py GIT_DIR [--tag v3.12.6] [--show 30]

GIT_DIR is a clone (bare or not) of modelscope/ms-swift. Every ``swift <command> ...`` line of every
``examples/**/*.sh`` at the tag is read (continuation lines joined, leading environment assignments and
``CUDA_VISIBLE_DEVICES=...`` dropped, each shell expression read as the number 1, a ``--config`` file read from
the repository beside the script), its arguments parsed by swiftk as
``swiftk <command> ... --print_args`` would parse them (in this process: no model is loaded). Printed: the
count accepted per command, and the argument names (or messages) that made the others fail, most frequent first.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shlex
import subprocess

COMMAND = re.compile(r"(?:^|\s)swift\s+(sft|pt|rlhf|infer|deploy|export|eval|sample|app|web-ui|rollout|merge-lora)\b")


def scripts(git_dir: str, tag: str) -> dict[str, str]:
    names = subprocess.run(
        ["git", "-C", git_dir, "ls-tree", "-r", "--name-only", tag, "--", "examples"],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    out = {}
    for name in names:
        if name.endswith(".sh"):
            out[name] = subprocess.run(
                ["git", "-C", git_dir, "show", f"{tag}:{name}"], capture_output=True, text=True
            ).stdout
    return out


def command_lines(text: str) -> list[tuple[str, list[str]]]:
    joined = re.sub(r"\\\s*\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0]
        match = COMMAND.search(line)
        if not match or line.lstrip().startswith("#"):
            continue
        rest = re.sub(r"\$\((?:[^()]|\([^()]*\))*\)", "1", line[match.end() :])  # $(expr 16 / $n): one value
        try:
            tokens = shlex.split(rest, posix=True)
        except ValueError:
            continue
        cut = next((i for i, t in enumerate(tokens) if t in ("|", "&&", ";", ">", "&", "2>&1")), len(tokens))
        # a shell expression ($(expr 16 / $nproc_per_node), $MODEL) is a value at run time: a number stands in
        out.append((match.group(1), ["1" if "$" in t else t for t in tokens[:cut]]))
    return out


def config_of(argv: list[str], script: str, git_dir: str, tag: str) -> tuple[list[str], dict | None]:
    """``--config FILE`` read from the repository beside the script (the examples run from their own folder or from
    the repository root), as ``swiftk`` reads it; the argv without it."""
    if "--config" not in argv:
        return argv, None
    at = argv.index("--config")
    name = argv[at + 1] if at + 1 < len(argv) else ""
    rest = argv[:at] + argv[at + 2 :]
    for path in (os.path.normpath(os.path.join(os.path.dirname(script), name)), name):
        shown = subprocess.run(["git", "-C", git_dir, "show", f"{tag}:{path}"], capture_output=True, text=True)
        if shown.returncode == 0:
            import yaml

            data = yaml.safe_load(shown.stdout)
            return rest, data if isinstance(data, dict) else {}
    return argv, None


def check(command: str, argv: list[str], config: dict | None = None) -> str | None:
    """None when swiftk parses the line, else the reason (the unknown name, or the message)."""
    from swiftk.cli.builtin import BUILTIN_COMMANDS, resolve_arguments
    from swiftk.errors import SwiftkError

    if command not in BUILTIN_COMMANDS:
        return f"command {command}"
    try:
        resolve_arguments(command, argv, config)
    except SwiftkError as exc:
        text = str(exc)
        unknown = re.search(r"unknown argument (--\w+)", text)
        return unknown.group(1) if unknown else text.split(";")[0][:120]
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        return f"{type(exc).__name__}: {str(exc)[:100]}"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("git_dir")
    parser.add_argument("--tag", default="v3.12.6")
    parser.add_argument("--show", type=int, default=30)
    opts = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    per_command: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    reasons: collections.Counter = collections.Counter()
    for script, text in sorted(scripts(opts.git_dir, opts.tag).items()):
        for command, argv in command_lines(text):
            argv, config = config_of(argv, script, opts.git_dir, opts.tag)
            reason = check(command, argv, config)
            per_command[command][1] += 1
            if reason is None:
                per_command[command][0] += 1
            else:
                reasons[reason] += 1
    accepted = sum(a for a, _ in per_command.values())
    total = sum(t for _, t in per_command.values())
    print(f"ms-swift {opts.tag} examples: swiftk accepts {accepted} of {total} swift command lines")
    for command, (a, t) in sorted(per_command.items(), key=lambda kv: -kv[1][1]):
        print(f"  {command:10} {a:4} of {t}")
    print("what the others fail on (lines):")
    for reason, count in reasons.most_common(opts.show):
        print(f"  {count:4}  {reason}")


if __name__ == "__main__":
    main()
