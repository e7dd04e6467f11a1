"""What the canary's shadow comparison costs: the engine with SHADOW_MODEL_VERSION set and
ENGINE_SHADOW_SHARE=1 (every property estimated twice) against the same engine without it, same model,
same load, side by side in one run.

    .venv/bin/python benchmarks/engine/shadow.py [--seconds 8] [--slice 0.5] [--rounds 2]

The production model comes from run.py's ``ensure_model`` (trained once by the real training code into
.bench/engine/). The shadow version is a second registered version with the same bytes: the comparison's
cost is that of estimating with a model of that size and structure, whatever its numbers. Both engines run
at once on 127.0.0.1 (an idle engine costs nothing) and take turns of ``--slice`` seconds on connections
kept open, each turn after a 50 ms pause and one untimed request per connection (loadgen.run_alternating), so that the machine's changes of speed, which on a shared host last
seconds to minutes, fall on both alike: single-property requests at concurrency 1 (latency) and 16
(throughput), ``--seconds`` per engine, concurrency and round. Results land in .bench/engine/shadow.json;
the figures are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.engine.loadgen import Target, fetch, run_alternating, run_load  # noqa: E402
from benchmarks.engine.run import (  # noqa: E402
    BENCH,
    HOST,
    MODEL_NAME,
    Server,
    ensure_artifact,
    ensure_model,
    python_env,
    sample_rows,
    spawn_engine,
)

PORTS = {"without shadow": 18191, "with shadow (100 %)": 18192}


def ensure_shadow_version(tracking: str, version: int) -> int:
    """A second version of the production model (same bytes, its own lineage) to compare with."""
    from model_contract.registry import TAG_LINEAGE, TAG_SHA256, ModelRegistry

    registry = ModelRegistry(tracking)
    lineage = f"benchmark-shadow-of-v{version}"
    found = registry.find(MODEL_NAME, {TAG_LINEAGE: lineage})
    if found is not None:
        return found.version
    record = registry.get(MODEL_NAME, version)
    run_id, uri = registry.upload(ensure_artifact(tracking, version), MODEL_NAME, "benchmark-shadow", {})
    tags = {TAG_SHA256: record.sha256 or "", TAG_LINEAGE: lineage}
    return registry.register(MODEL_NAME, run_id, uri, tags).version


def benchmark_settings() -> tuple[dict[str, str], dict[str, str], str]:
    """A plain engine's environment for the benchmark model, what turns its shadow comparison on (against a
    second version, every property), and the model's sha256."""
    tracking, version, sha256 = ensure_model()
    shadow = ensure_shadow_version(tracking, version)
    base = python_env() | {
        "MODEL_NAME": MODEL_NAME,
        "MODEL_VERSION": str(version),
        "MLFLOW_TRACKING_URI": tracking,
        "ENGINE_MODEL_CACHE_DIR": str(BENCH / "engine-cache"),
        "ENGINE_LOG_LEVEL": "WARNING",
    }
    return base, {"SHADOW_MODEL_VERSION": str(shadow), "ENGINE_SHADOW_SHARE": "1"}, sha256


def start(name: str, env: dict[str, str], rows: list[dict]) -> Server:
    port = PORTS[name]
    return spawn_engine(name, env, port, BENCH / f"shadow-bench-{port}.log", rows)[0]


def shadow_counters(server: Server) -> dict[str, float]:
    _, body = fetch(HOST, server.port, f"GET /metrics HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    counters = {}
    for line in body.decode().splitlines():
        for name in (
            "engine_shadow_compared_total",
            "engine_shadow_dropped_total",
            "engine_predictions_total",
        ):
            if line.startswith(name + "{"):
                counters[name] = counters.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return counters


def resident_mb(pid: int) -> dict[str, float]:
    """Resident memory of an engine and of each child it started (the shadow process), in MB."""
    found = {}
    for label, each in [("engine", pid), *(("child", int(c)) for c in _children(pid))]:
        status = Path(f"/proc/{each}/status").read_text()
        kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
        found[f"{label} {each}"] = round(kb / 1024, 1)
    return found


def _children(pid: int) -> list[str]:
    tasks = Path(f"/proc/{pid}/task")
    return [c for task in tasks.iterdir() for c in (task / "children").read_text().split()]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="load per engine, concurrency and round, in slices"
    )
    parser.add_argument("--slice", type=float, default=0.5, help="seconds of load per turn (loadgen.py)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, each with its own figures")
    parser.add_argument("--out", type=Path, default=BENCH / "shadow.json")
    args = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)
    base, shadow_on, sha256 = benchmark_settings()
    rows = sample_rows(3000)
    envs = {"without shadow": base, "with shadow (100 %)": base | shadow_on}
    report: dict = {"load_avg_start": os.getloadavg(), "cpus": os.cpu_count(), "model": sha256, "runs": []}
    servers = {name: start(name, env, rows) for name, env in envs.items()}
    try:
        # The fast-path check and the shadow model's load finish after readiness: wait (bounded) for both.
        deadline = time.monotonic() + 180
        while "engine_shadow_compared_total" not in shadow_counters(servers["with shadow (100 %)"]):
            assert time.monotonic() < deadline, "the shadow model did not load"
            time.sleep(0.5)
        time.sleep(2.0)
        singles = {name: [server.request([row]) for row in rows] for name, server in servers.items()}
        for name, server in servers.items():
            run_load(HOST, server.port, singles[name], concurrency=4, seconds=2.0)  # warm up
        targets = [Target(name, server.port, singles[name]) for name, server in servers.items()]
        cycles = max(1, round(args.seconds / args.slice))
        for round_ in range(args.rounds):
            for concurrency in (1, 16):
                outcomes = run_alternating(HOST, targets, concurrency, args.slice, cycles)
                for name, outcome in outcomes.items():
                    entry = {"round": round_, "engine": name, **outcome.summary()}
                    report["runs"].append(entry)
                    print(json.dumps(entry), flush=True)
        report["shadow_counters"] = shadow_counters(servers["with shadow (100 %)"])
        report["resident_mb"] = {name: resident_mb(server.process.pid) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    report["load_avg_end"] = os.getloadavg()
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
