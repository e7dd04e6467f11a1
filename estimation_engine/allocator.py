"""Keep freed heap memory in the serving process instead of handing it back to the OS after each request.

By default glibc's malloc returns any block over a dynamic threshold (128 KiB to start) to the OS with
munmap, and trims the heap once 128 KiB lie free at its top. A 1,000-property request allocates and frees
tens of megabytes of short-lived arrays and objects, so each such request faulted the same pages in again:
measured with benchmarks/engine/run.py on 2 cores, the batch's median latency moved between 29 and 43 ms
from run to run with the defaults and stayed between 25 and 32 ms with these settings. The price is a
resident size that stays near its high-water mark (tens of megabytes more).

Applied once, when ``serve`` starts, and only under glibc; MALLOC_* environment variables set by an
operator (glibc's own tunables) take precedence and switch this off.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h) and the values set.
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {
    M_MMAP_THRESHOLD: 32 * 1024 * 1024,  # glibc's maximum on 64-bit: blocks below it come from the heap
    M_TRIM_THRESHOLD: 256 * 1024 * 1024,  # free memory kept at the heap top before trimming
    M_TOP_PAD: 64 * 1024 * 1024,  # extra asked of the OS per heap growth, so growth is rare
}


def keep_freed_memory(environ: dict[str, str] | None = None) -> bool:
    """Set the thresholds above; False when not glibc, or the operator tuned malloc through MALLOC_*."""
    environ = dict(os.environ) if environ is None else environ
    if platform.libc_ver()[0] != "glibc" or any(key.startswith("MALLOC_") for key in environ):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    applied = all(mallopt(parameter, value) == 1 for parameter, value in SETTINGS.items())
    if not applied:
        log.warning("glibc refused a malloc threshold; freed memory may go back to the OS per request")
    return applied
