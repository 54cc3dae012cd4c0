"""One long-lived Python in the multimodal venv that runs the tests' helper scripts (``python SCRIPT ARGS`` and
``python -c CODE ARGS``) one after another, so that each helper pays for torch, transformers and torchvision's
imports once per test worker instead of once per call (about 4 s each, 70 calls in the multimodal files).

Protocol: one JSON request per line on stdin, ``{"argv": [...], "env": {...}}`` (``argv`` as ``python`` would take
it); one JSON reply per line, ``{"returncode", "stdout", "stderr"}``, on the stdout it started with.  Everything else
written to file descriptor 1 (C libraries) goes to /dev/null, so that it cannot garble the replies, and so does
what is written to descriptor 2 (mm_helpers starts the runner with its stderr on /dev/null); a helper that ends
the runner (a crash, ``os._exit``) is run again as its own process, whose output the caller gets whole.  ``swiftk`` commands never come
here: mm_helpers.run starts those as processes of their own, since they are what the tests test.
"""

from __future__ import annotations

import io
import json
import os
import runpy
import sys
import traceback
import warnings


class CallStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` for the whole life of the runner, writing into the current call's buffer:
    a library that kept the stream of its first import (transformers' log handler) still reaches the right call."""

    def __init__(self):
        self.target = io.StringIO()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return self.target.write(text)


def run_one(argv: list[str], env: dict, out: CallStream, err: CallStream) -> dict:
    """What ``python *argv`` would have printed and returned, run in this process with ``env`` as its
    environment; the environment, working folder, ``sys.argv``/``sys.path`` and warning filters are restored."""
    out.target, err.target = io.StringIO(), io.StringIO()
    saved_argv, saved_path, saved_env, saved_cwd = sys.argv, list(sys.path), dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update(env)
    code = 0
    try:
        with warnings.catch_warnings():  # each call sees its own warnings, as a fresh process would
            if argv[0] == "-c":
                sys.argv = ["-c", *argv[2:]]
                sys.path.insert(0, "")
                exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
            else:
                sys.argv = list(argv)
                sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
                runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:  # sys.exit("message"): printed, status 1, as the interpreter does
            err.write(f"{exc.code}\n")
            code = 1
    except BaseException:  # noqa: BLE001 - a helper's failure is its reply, not the runner's end
        err.write(traceback.format_exc())
        code = 1
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
    return {"returncode": code, "stdout": out.target.getvalue(), "stderr": err.target.getvalue()}


def main() -> None:
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # a helper that reads stdin reads nothing, as with subprocess.run's default here
    os.dup2(devnull, 1)
    sys.stdin = open(os.devnull)
    sys.stdout, sys.stderr = out, err = CallStream(), CallStream()
    for line in requests:
        request = json.loads(line)
        replies.write(json.dumps(run_one(request["argv"], request["env"], out, err)) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
