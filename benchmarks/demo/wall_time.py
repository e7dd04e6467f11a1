"""Wall time and peak memory of `make demo`, once installed: a fresh run, then a run that continues.

Measured, not asserted. Runs the demo in a temporary copy of the repository's tracked files (so the
checkout's own .mlops/ is untouched), first on fresh state, then again on the state it left, and reports
each run's wall time and the largest resident set size of any process it started.

    .venv/bin/python benchmarks/demo/wall_time.py
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def copy_repository(target: Path) -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for relative in files.splitlines():
        if (ROOT / relative).is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target / relative)
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "benchmark copy"]):
        subprocess.run(["git", *command], cwd=target, check=True, capture_output=True)


def timed_demo(copy: Path) -> tuple[float, int]:
    environment = {k: v for k, v in os.environ.items() if k not in ("MLOPS_HOME", "MLFLOW_TRACKING_URI")}
    started = time.perf_counter()
    subprocess.run([sys.executable, "scripts/demo.py"], cwd=copy, env={**environment, "PYTHONPATH": str(copy)},
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="demo-bench-") as folder:
        copy = Path(folder) / "repo"
        copy_repository(copy)
        print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        for label in ("fresh state (registers v1, promotes, serves)", "continuing (no improvement)"):
            seconds, peak_kb = timed_demo(copy)
            print(
                f"make demo, {label}: {seconds:.1f} s wall, peak RSS of its processes {peak_kb / 1024:.0f} MB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
