"""`make demo`: train the demo model on self-cognition data, then chat with it.

Runs examples/self_cognition.yaml through `swiftk run` once the plugins that implement training
and inference are installed; until then it shows what the kernel has loaded and what is missing.
"""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JOB = os.path.join(ROOT, "examples", "self_cognition.yaml")
SWIFTK = [sys.executable, "-m", "swiftk"]


def main() -> int:
    from swiftk.host import get_host

    host = get_host()
    needed = {
        ("trainers", "sft"): "`swiftk sft`",
        ("commands", "infer"): "`swiftk infer`",
        ("models", "tiny_chat"): "the demo model",
    }
    missing = [(kind, name) for kind, name in needed if name not in host.registry(kind)]
    if missing or not os.path.isfile(JOB):
        subprocess.call(SWIFTK + ["plugins"])
        from swiftk.hints import provider_of

        needs = ", ".join(f"{needed[k]} ({provider_of(*k)})" for k in missing)
        print(
            f"\nThe demo trains with `swiftk run {os.path.relpath(JOB, ROOT)}`; it needs {needs or 'the job file'}, "
            f"which this checkout does not provide yet."
        )
        return 0
    return subprocess.call(SWIFTK + ["run", JOB, *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
