"""The detached parent of a run: starts it, waits, and records its exit status, so that a run's end is known
even when the web-ui that started it has been closed or restarted.

``python -m swiftk_webui.web_ui.launcher EXIT_FILE CHILD_FILE -- COMMAND...``: the web-ui starts this in a new
session (its own process group), with stdout/stderr on the run's log. Stop sends SIGINT to the group: the run
gets it (and saves as Ctrl-C does); this process ignores it and keeps waiting, then writes EXIT_FILE.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time


def _ignore(signum, frame):  # a handler, not SIG_IGN: the run's process gets the default back at exec
    return None


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: python -m swiftk_webui.web_ui.launcher EXIT_FILE CHILD_FILE -- COMMAND...\n")
        return 2
    exit_file, child_file, command = argv[0], argv[1], argv[3:]
    from swiftk.api import atomic_write_text

    signal.signal(signal.SIGINT, _ignore)
    signal.signal(signal.SIGTERM, _ignore)
    try:
        proc = subprocess.Popen(command)
    except OSError as exc:
        sys.stderr.write(f"cannot start {command[0]}: {exc}\n")
        atomic_write_text(exit_file, json.dumps({"exit_code": 127, "ended": time.time()}))
        return 127
    atomic_write_text(child_file, str(proc.pid))
    code = proc.wait()
    atomic_write_text(exit_file, json.dumps({"exit_code": code, "ended": time.time()}))
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
