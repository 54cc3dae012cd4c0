"""Cold-start time of the light CLI paths: `swiftk --help`, `swiftk sft --help`, `swiftk plugins`.

Target: under 0.3 s median each with every plugin installed, and torch never imported
(tests/test_startup.py checks the imports). Runs each command N times, alternating, and prints
the median and minimum wall time. ms-swift 3.12.6 on this machine: 3.0 s for `swift --help`,
6.0 s for `swift sft --help`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

COMMANDS = [["--help"], ["sft", "--help"], ["plugins"], ["rlhf", "--print_args"]]


def swiftk_executable() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "swiftk")
    return [script] if os.path.exists(script) else [shutil.which("swiftk") or "swiftk"]


def main(repeats: int = 15) -> None:
    exe = swiftk_executable()
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    times: dict[str, list[float]] = {" ".join(c): [] for c in COMMANDS}
    for _ in range(repeats):
        for command in COMMANDS:  # alternate the commands
            start = time.perf_counter()
            subprocess.run(exe + command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
            times[" ".join(command)].append(time.perf_counter() - start)
    print(f"{'command':<28}{'median s':>10}{'min s':>10}   (n={repeats})")
    for name, values in times.items():
        print(f"swiftk {name:<21}{statistics.median(values):>10.3f}{min(values):>10.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 15)
