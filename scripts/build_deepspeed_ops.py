"""Compile the DeepSpeed ops that ``--deepspeed`` uses on this machine's accelerator (run by ``make install``).

DeepSpeed builds them just in time on first use (on CPU: the shared-memory collectives of every ZeRO run and
CPU Adam of the offload presets, about 3 minutes together) and caches them in ``~/.cache/torch_extensions``;
building them here keeps that pause out of the first training run and the first test. A machine that cannot
compile them (no C++ compiler) is told so, and DeepSpeed falls back to torch's collectives at run time.
"""

from __future__ import annotations

import sys
import time

OPS = ("ShareMemCommBuilder", "CPUAdamBuilder")


def main() -> int:
    try:
        from deepspeed.accelerator import get_accelerator
    except ImportError:
        print("deepspeed is not installed: nothing to build")
        return 0
    accelerator = get_accelerator()
    if accelerator.device_name() != "cpu":
        return 0  # GPU builds are DeepSpeed's own business (DS_BUILD_OPS at install time)
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
