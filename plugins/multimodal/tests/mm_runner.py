"""One long-lived Python in the multimodal venv that runs the tests' helper scripts (``python SCRIPT ARGS`` and
``python -c CODE ARGS``) one after another, so that each helper pays for torch, transformers and torchvision's
imports once per test worker instead of once per call (about 4 s each, 70 calls in the multimodal files).

Protocol: one JSON request per line on stdin, ``{"argv": [...]}`` as ``python`` would take it; one JSON reply per
line, ``{"returncode", "stdout", "stderr"}``, on the stdout it started with.  Everything else written to file
descriptor 1 (C libraries) goes to /dev/null, so that it cannot garble the replies.  ``swiftk`` commands never come
here: mm_helpers.run starts those as processes of their own, since they are what the tests test.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import traceback


def run_one(argv: list[str]) -> dict:
    """What ``python *argv`` would have printed and returned, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_path = sys.argv, list(sys.path)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
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
    return {"returncode": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    replies = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    for line in sys.stdin:
        replies.write(json.dumps(run_one(json.loads(line)["argv"])) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
