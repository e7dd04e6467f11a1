"""How many CPUs this process may really use: what a container's limit allows, not what the node has.

``os.cpu_count()`` and the affinity mask report the node's CPUs; a Kubernetes CPU limit or an ACI
container's cores are a cgroup quota instead. A thread count sized from the node would oversubscribe
the quota and stall in CFS throttling, so defaults are sized from the smaller of the two.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs in this process's affinity mask, capped by the cgroup v2 quota when there is one."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 (macOS, cgroup v1): the affinity mask is all there is
        pass
    return max(1, count)
