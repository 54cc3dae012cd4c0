"""Compile the DeepSpeed ops that ``--deepspeed`` uses on this machine's accelerator (run by ``make install``).

DeepSpeed builds them just in time on first use (on CPU: the shared-memory collectives of every ZeRO run and
CPU Adam of the offload presets, about 3 minutes together) and caches them in ``~/.cache/torch_extensions``;
building them here keeps that pause out of the first training run and the first test. A machine that cannot
compile them (no C++ compiler) is told so, and DeepSpeed falls back to torch's collectives at run time.
"""

from __future__ import annotations

import glob
import os
import sys
import time

OPS = ("ShareMemCommBuilder", "CPUAdamBuilder")
#: a build takes about 3 minutes; a lock older than this was left by a build that was killed, and torch would wait
#: on it forever
STALE_LOCK_S = 15 * 60


def remove_stale_locks() -> None:
    """torch's extension builds lock their folder with a file; a killed ``make install`` leaves it behind."""
    try:  # where torch builds extensions (TORCH_EXTENSIONS_DIR or ~/.cache/torch_extensions/<python>_<device>)
        from torch.utils.cpp_extension import _get_build_directory

        root = os.path.dirname(_get_build_directory("x", verbose=False))
    except Exception:  # noqa: BLE001 - a torch without that helper: nothing to clean
        return
    for lock in glob.glob(os.path.join(root, "*", "lock")):
        age = time.time() - os.path.getmtime(lock)
        if age > STALE_LOCK_S:
            print(f"removing a stale build lock ({age / 60:.0f} min old, left by a killed build): {lock}")
            os.remove(lock)


def main() -> int:
    try:
        from deepspeed.accelerator import get_accelerator
    except ImportError:
        print("deepspeed is not installed: nothing to build")
        return 0
    accelerator = get_accelerator()
    if accelerator.device_name() != "cpu":
        return 0  # GPU builds are DeepSpeed's own business (DS_BUILD_OPS at install time)
    remove_stale_locks()
    for name in OPS:
        builder = accelerator.create_op_builder(name)
        if builder is None or not builder.is_compatible():
            print(f"deepspeed op {name}: not available on this machine, skipped")
            continue
        start = time.time()
        try:
            builder.load(verbose=False)
        except Exception as exc:  # noqa: BLE001 - a failed build is DeepSpeed's fallback, not ours to fail on
            print(f"deepspeed op {name}: could not be built ({exc}); DeepSpeed will fall back at run time")
            continue
        print(f"deepspeed op {name}: ready ({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
