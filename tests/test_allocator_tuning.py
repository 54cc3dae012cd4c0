"""swiftk.startup.tune_allocator, as the ``swiftk`` command sets it: mid-sized allocations come from the
heap rather than a fresh mapping each (glibc's mallinfo2 counts the mapped blocks), and the user's own
malloc settings or SWIFTK_MALLOC_TUNING=0 leave glibc's defaults."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")

# run at exit of the command: does a 4 MiB buffer take a mapping of its own?
PROBE = r"""
import atexit, ctypes, sys

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2

def probe():
    before = libc.mallinfo2().hblks
    buffer = bytearray(4 << 20)
    sys.stdout.write(f"\nmapped={libc.mallinfo2().hblks - before}\n")
    sys.stdout.flush()

atexit.register(probe)
from swiftk.cli import main
main(["--version"])
"""


def mapped_blocks(**env: str) -> int:
    environ = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES" and not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**environ, **env}, capture_output=True, text=True,
                         timeout=120, check=False)  # fmt: skip
    lines = [line for line in out.stdout.splitlines() if line.startswith("mapped=")]
    assert lines, out.stdout + out.stderr
    return int(lines[-1].split("=")[1])


def test_the_command_serves_mid_sized_buffers_from_the_heap():
    assert mapped_blocks() == 0
    assert mapped_blocks(SWIFTK_MALLOC_TUNING="0") == 1  # glibc's default: a mapping per 4 MiB buffer


def test_the_users_own_malloc_settings_are_left_alone():
    assert mapped_blocks(GLIBC_TUNABLES="glibc.malloc.mmap_threshold=1048576") == 1
    assert mapped_blocks(MALLOC_ARENA_MAX="2") == 1
