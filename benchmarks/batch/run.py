"""Batch benchmark: ``python -m estimation_engine batch`` on 1,000,000 properties, against the HTTP path.

    .venv/bin/python benchmarks/batch/run.py [--rows 1000000] [--http-seconds 20] [--out FILE]

The portfolio is the Ames rows resampled with replacement (seeded) plus an ``id`` column, written once as
Parquet and as CSV under .bench/batch/ (git-ignored, not committed). The model is the engine benchmark's:
the shipped config trained by the real training code (benchmarks/engine/run.py ``ensure_model``). Measured
in one run, one after the other on this machine:

- the batch command on the Parquet file and on the CSV file (default tree threads), and on the Parquet file
  with one tree thread: wall time of the whole process (model load included), the command's own
  rows/s (reading to last file written), and the process's peak resident memory (``wait4``'s ru_maxrss);
- the alternative to threads, one process per core: the Parquet file split in two halves, two batch
  processes at once with one tree thread each (wall time until both ended, peak memory summed);
- the HTTP path: the engine serving the same model, 1,000 properties per request, 4 concurrent clients
  (benchmarks/engine/loadgen.py), properties/s over ``--http-seconds``.

Figures are measured, not asserted; the load average before and after is recorded beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.engine.loadgen import run_load  # noqa: E402
from benchmarks.engine.run import HOST, MODEL_NAME, ensure_model, python_env, start_engine  # noqa: E402

BENCH = REPO / ".bench" / "batch"
BOUND_SECONDS = 600


def portfolio(rows: int) -> tuple[Path, Path]:
    """The resampled portfolio as Parquet and CSV, generated once per row count."""
    parquet, csv = BENCH / f"portfolio-{rows}.parquet", BENCH / f"portfolio-{rows}.csv"
    if parquet.is_file() and csv.is_file() and pq.ParquetFile(parquet).metadata.num_rows == rows:
        return parquet, csv
    print(f"generating {rows:,} properties by resampling the Ames rows ...", flush=True)
    ames = pd.read_csv(REPO / "training" / "data" / "ames.csv.gz").drop(columns="Sale_Price")
    frame = ames.sample(n=rows, replace=True, random_state=15).reset_index(drop=True)
    frame.insert(0, "id", [f"P{number:07d}" for number in range(rows)])
    frame.to_parquet(parquet, index=False)
    frame.to_csv(csv, index=False)
    return parquet, csv


def batch_env(tracking: str) -> dict[str, str]:
    return python_env() | {
        "MODEL_NAME": MODEL_NAME,
        "MLFLOW_TRACKING_URI": tracking,
        "ENGINE_MODEL_CACHE_DIR": str(BENCH / "engine-cache"),
        "ENGINE_CACHE_TRUST": "cache",
    }


def start_batch(env: dict[str, str], version: int, source: Path, label: str, threads: int | None) -> subprocess.Popen:  # fmt: skip
    command = [sys.executable, "-m", "estimation_engine", "batch", "--model-version", str(version),
               "--input", str(source), "--output", str(BENCH / f"{label}.parquet"),
               "--summary-json", str(BENCH / f"{label}.summary.json")]  # fmt: skip
    if threads is not None:
        command += ["--threads", str(threads)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen, deadline: float) -> tuple[float, float, float]:
    """Wait for the process (bounded); its (end time, peak resident MB, CPU seconds). The peak is the
    kernel's VmHWM of the process, polled while it runs: wait4's ru_maxrss would count the pages of this
    (large) parent that the child shared between fork and exec. CPU seconds (user + system, from wait4) are
    what a shared machine does not inflate the way it inflates wall time."""
    peak_kb = 0
    status_file = Path(f"/proc/{process.pid}/status")
    while time.monotonic() < deadline:
        try:
            status = status_file.read_text()
            high_water = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
            peak_kb = max(peak_kb, int(high_water))
        except (OSError, StopIteration):
            pass
        pid, code, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            ended = time.perf_counter()
            process.returncode = os.waitstatus_to_exitcode(code)
            if process.returncode != 0:
                error = process.stderr.read().decode()[-2000:]
                raise RuntimeError(f"batch failed ({process.returncode}): {error}")
            return ended, peak_kb / 1024, usage.ru_utime + usage.ru_stime
        time.sleep(0.02)
    process.kill()
    raise RuntimeError("batch did not finish within the bound")


def measure_batch(env: dict[str, str], version: int, source: Path, label: str, threads: int | None) -> dict:
    started = time.perf_counter()
    process = start_batch(env, version, source, label, threads)
    ended, peak_mb, cpu_s = finish(process, time.monotonic() + BOUND_SECONDS)
    summary = json.loads((BENCH / f"{label}.summary.json").read_text())
    result = {
        "rows": summary["rows_read"],
        "wall_s_with_model_load": round(ended - started, 1),
        "batch_s": round(summary["seconds"], 1),
        "rows_per_s": round(summary["rows_per_second"]),
        "peak_mb": round(peak_mb),
        "cpu_s_with_model_load": round(cpu_s, 1),
        "threads": threads or "default (ENGINE_BATCH_THREADS)",
    }
    print(f"  {label}: {result}", flush=True)
    return result


def measure_processes(env: dict[str, str], version: int, source: Path) -> dict:
    """One process per core: the file in two halves, two batches at once, one tree thread each."""
    table = pq.read_table(source)
    rows, half = table.num_rows, table.num_rows // 2
    parts = [BENCH / "half-0.parquet", BENCH / "half-1.parquet"]
    pq.write_table(table.slice(0, half), parts[0])
    pq.write_table(table.slice(half), parts[1])
    del table
    started = time.perf_counter()
    processes = [start_batch(env, version, part, f"two-processes-{i}", 1) for i, part in enumerate(parts)]
    deadline = time.monotonic() + BOUND_SECONDS
    finished = [finish(process, deadline) for process in processes]
    wall = max(end for end, _, _ in finished) - started
    result = {
        "rows": rows,
        "wall_s_with_model_load": round(wall, 1),
        "rows_per_s_with_model_load": round(rows / wall),
        "peak_mb_summed": round(sum(peak for _, peak, _ in finished)),
        "cpu_s_with_model_load": round(sum(cpu for _, _, cpu in finished), 1),
    }
    print(f"  two processes: {result}", flush=True)
    return result


def measure_http(tracking: str, version: int, source: Path, seconds: float) -> dict:
    frame = pq.read_table(source).slice(0, 20_000).to_pandas().drop(columns="id")
    records = [{k: v for k, v in row.items() if not pd.isna(v)} for row in frame.to_dict("records")]
    server, _ = start_engine(tracking, version, BENCH / "http-engine-cache", "cache", records)
    try:
        bodies = [server.request(records[i : i + 1000]) for i in range(0, len(records), 1000)]
        run_load(HOST, server.port, bodies[:4], concurrency=4, seconds=3.0)  # warm up
        outcome = run_load(HOST, server.port, bodies, concurrency=4, seconds=seconds)
    finally:
        server.stop()
    result = {
        **outcome.summary(),
        "properties_per_request": 1000,
        "properties_per_s": round(outcome.throughput * 1000),
    }
    print(f"  http: {result}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--http-seconds", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "batch_scale.json")
    args = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)
    tracking, version, sha256 = ensure_model()
    parquet, csv = portfolio(args.rows)
    env = batch_env(tracking)
    warm = BENCH / "warm-up.input.parquet"  # the first run compiles the tree kernel (numba's cache)
    pq.write_table(pq.read_table(parquet).slice(0, 20_000), warm)
    measure_batch(env, version, warm, "warm-up", 1)
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "load_avg_before": [round(x, 2) for x in os.getloadavg()]},
        "model": {"name": MODEL_NAME, "version": version, "sha256": sha256},
        "batch": {
            "parquet": measure_batch(env, version, parquet, "parquet", None),
            "parquet_one_thread": measure_batch(env, version, parquet, "parquet-one-thread", 1),
            "csv": measure_batch(env, version, csv, "csv", None),
            "two_processes_parquet": measure_processes(env, version, parquet),
        },
        "http_path": measure_http(tracking, version, parquet, args.http_seconds),
    }
    report["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    best = max(report["batch"]["parquet"]["rows_per_s"], report["batch"]["parquet_one_thread"]["rows_per_s"])
    report["batch_over_http"] = round(best / max(report["http_path"]["properties_per_s"], 1), 2)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
