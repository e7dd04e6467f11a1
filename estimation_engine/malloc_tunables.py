"""glibc's malloc tunables for the serving process: freed memory is kept in the process, not handed back.

By default glibc's malloc returns any block over a dynamic threshold (128 KiB to start) to the OS with
munmap, and trims the heap once 128 KiB lie free at its top. A 1,000-property request allocates and frees
tens of megabytes of short-lived arrays and objects, so each such request faulted the same pages in again:
measured with benchmarks/engine/run.py on 2 cores, the batch's median latency moved between 29 and 43 ms
from run to run with the defaults and stayed between 25 and 32 ms with these settings. The price is a
resident size that stays near its high-water mark (tens of megabytes more).

glibc reads its tunables once, when the allocator initialises, before any Python code runs: the image sets
``GLIBC_TUNABLES`` (estimation_engine/Dockerfile; tests/estimation_engine/test_dockerfile.py ties it to
``TUNABLES``), and ``serve`` started without it re-executes itself once with it set. ``GLIBC_TUNABLES`` is
the interface the glibc manual documents ("Memory Allocation Tunables": each ``glibc.malloc.*`` tunable
supersedes its ``MALLOC_*_`` variable); an operator's own ``GLIBC_TUNABLES`` or ``MALLOC_*`` variable wins
and nothing is re-executed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

VARIABLE = "GLIBC_TUNABLES"
# mmap_threshold at glibc's maximum on 64-bit (blocks below it come from the heap; setting it also turns
# off the dynamic threshold), free memory kept at the heap top before trimming, and the extra asked of the
# OS per heap growth, so growth is rare.
TUNABLES = (
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=67108864"
)


def environment_to_reexec(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment to re-execute ``serve`` with, or None when there is nothing to do: not glibc, the
    tunables already in force, or an operator's own malloc settings (which win)."""
    if not _glibc() or VARIABLE in environ or any(key.startswith("MALLOC_") for key in environ):
        return None
    return {**environ, VARIABLE: TUNABLES}


def in_force(environ: Mapping[str, str]) -> str:
    """What the log says about malloc at start."""
    operator = sorted(key for key in environ if key.startswith("MALLOC_"))
    if environ.get(VARIABLE):  # not its value: once glibc has parsed it, the process sees only the first one
        return f"{VARIABLE}, read by glibc at start"
    return f"set by the operator: {', '.join(operator)}" if operator else "glibc's defaults"


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError):
        return False
