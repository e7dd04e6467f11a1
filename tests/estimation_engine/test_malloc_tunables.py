"""glibc's malloc tunables: the serving process keeps freed memory, set before the allocator initialises."""

from __future__ import annotations

import subprocess
import sys

import pytest

from estimation_engine.malloc_tunables import TUNABLES, VARIABLE, environment_to_reexec, in_force

# What a batch does to the heap, in miniature: an 8 MiB block (above glibc's default mmap threshold, below the
# tunables'), then a hundred 100 KiB blocks freed again. Prints: blocks mmapped, MiB of heap after growing,
# MiB of heap kept after the frees.
HEAP_AFTER_A_BATCH = """
import ctypes
class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype, libc.malloc.restype, libc.free.argtypes = Info, ctypes.c_void_p, [ctypes.c_void_p]
before = libc.mallinfo2().hblks
libc.malloc(8 << 20)
mmapped = libc.mallinfo2().hblks - before
blocks = [libc.malloc(100 << 10) for _ in range(100)]
grown = libc.mallinfo2().arena
for block in reversed(blocks):
    libc.free(block)
print(mmapped, grown >> 20, libc.mallinfo2().arena >> 20)
"""


def heap_after_a_batch(environ: dict[str, str]) -> tuple[int, int, int]:
    completed = subprocess.run(
        [sys.executable, "-c", HEAP_AFTER_A_BATCH], env=environ, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    mmapped, grown, kept = map(int, completed.stdout.split())
    return mmapped, grown, kept


@pytest.mark.skipif(environment_to_reexec({}) is None, reason="malloc tunables are glibc's")
def test_glibc_keeps_a_batchs_memory_in_the_process_with_the_tunables():
    mmapped, grown, kept = heap_after_a_batch({})
    assert mmapped == 1 and kept < grown  # the defaults: mmapped, then trimmed back to the OS
    mmapped, grown, kept = heap_after_a_batch({VARIABLE: TUNABLES})
    assert (mmapped, grown, kept) == (0, 64, 64)  # from the heap, grown by top_pad, nothing trimmed


@pytest.mark.skipif(environment_to_reexec({}) is None, reason="malloc tunables are glibc's")
def test_serve_runs_again_with_the_tunables_unless_they_or_an_operators_are_set():
    assert environment_to_reexec({"PATH": "/bin"}) == {"PATH": "/bin", VARIABLE: TUNABLES}
    assert environment_to_reexec({VARIABLE: TUNABLES}) is None  # the image sets them: nothing to do
    assert environment_to_reexec({VARIABLE: "glibc.malloc.arena_max=2"}) is None
    assert environment_to_reexec({"MALLOC_ARENA_MAX": "2"}) is None


def test_the_log_says_which_malloc_settings_are_in_force():
    assert in_force({VARIABLE: TUNABLES}) == f"{VARIABLE}, read by glibc at start"
    assert in_force({"MALLOC_ARENA_MAX": "2"}) == "set by the operator: MALLOC_ARENA_MAX"
    assert in_force({}) == "glibc's defaults"
