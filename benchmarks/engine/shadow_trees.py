"""The shadow comparison's cost, for engines from several source trees side by side: a
plain engine from this tree, then one engine with the shadow on (ENGINE_SHADOW_SHARE=1) per tree named, and
one without it per ``--plain-tree`` named (to see what a tree's request path costs, shadow aside).

    git worktree add /tmp/thread-shadow 8f55ab3
    .venv/bin/python benchmarks/engine/shadow_trees.py --tree thread=/tmp/thread-shadow --tree process=. \\
        [--rounds 10] [--seconds 4] [--slice 0.5] [--concurrency 1 16]

Each tree's engine runs from that tree's code with this tree's virtualenv (the trees must need the same
packages). In every round the engines take turns of ``--slice`` seconds (loadgen.run_alternating) under the
same single-property load, at concurrency 1 and any other ``--concurrency`` given; the machine's other load
falls on all of them alike, so the figures to read are each engine's p99 minus the plain engine's p99 in the
same round and its throughput against the plain engine's, each the median over the rounds. Results land in
.bench/engine/shadow-trees.json; the figures are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.engine import run as engine_run  # noqa: E402
from benchmarks.engine.loadgen import Target, run_alternating, run_load  # noqa: E402
from benchmarks.engine.run import BENCH, HOST, Server, sample_rows  # noqa: E402
from benchmarks.engine.shadow import benchmark_settings, shadow_counters  # noqa: E402

FIRST_PORT = 18201


def start(name: str, tree: Path, env: dict[str, str], port: int, rows: list[dict]) -> Server:
    """``python -m estimation_engine serve`` from ``tree`` (run.py starts engines in its REPO)."""
    started_in = engine_run.REPO
    engine_run.REPO = tree
    try:
        return engine_run.spawn_engine(name, env, port, BENCH / f"shadow-trees-{port}.log", rows)[0]
    finally:
        engine_run.REPO = started_in


def parse_trees(values: list[str]) -> dict[str, Path]:
    trees = {}
    for value in values:
        name, _, path = value.partition("=")
        tree = Path(path).resolve()
        if not name or name == "plain" or not (tree / "estimation_engine").is_dir():
            raise SystemExit(f"--tree {value!r}: expected NAME=PATH, NAME not 'plain', PATH a source tree")
        trees[name] = tree
    return trees


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a source tree")
    parser.add_argument(
        "--plain-tree", action="append", default=[], help="NAME=PATH: a tree whose engine runs without shadow"
    )
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=4.0, help="per engine, concurrency and round")
    parser.add_argument(
        "--slice",
        type=float,
        default=0.5,
        help="seconds of load per turn; the engines take turns (loadgen.py)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1],
        help="one or more; 1 for latency, 16 for throughput",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "shadow-trees.json")
    args = parser.parse_args()
    plain_trees = {"plain": REPO, **parse_trees(args.plain_tree)}
    trees = {**plain_trees, **parse_trees(args.tree)}
    BENCH.mkdir(parents=True, exist_ok=True)
    base, shadow_on, _ = benchmark_settings()
    rows = sample_rows(3000)
    report: dict = {
        "load_avg_start": os.getloadavg(),
        "trees": {k: str(v) for k, v in trees.items()},
        "runs": [],
    }
    servers: dict[str, Server] = {}
    try:
        for offset, (name, tree) in enumerate(trees.items()):
            env = base if name in plain_trees else base | shadow_on
            servers[name] = start(name, tree, env, FIRST_PORT + offset, rows)
        deadline = time.monotonic() + 180
        for name, server in servers.items():  # each shadow loaded (bounded), as shadow.py waits
            while name not in plain_trees and "engine_shadow_compared_total" not in shadow_counters(server):
                assert time.monotonic() < deadline, f"{name}: the shadow model did not load"
                time.sleep(0.5)
        singles = {name: [server.request([row]) for row in rows] for name, server in servers.items()}
        for name, server in servers.items():
            run_load(HOST, server.port, singles[name], concurrency=4, seconds=2.0)  # warm up
        targets = [Target(name, server.port, singles[name]) for name, server in servers.items()]
        for round_ in range(args.rounds):
            for concurrency in args.concurrency:
                cycles = max(1, round(args.seconds / args.slice))
                outcomes = run_alternating(HOST, targets, concurrency, args.slice, cycles)
                for name, outcome in outcomes.items():
                    report["runs"].append({"round": round_, "engine": name, **outcome.summary()})
                    print(json.dumps(report["runs"][-1]), flush=True)
    finally:
        for server in servers.values():
            server.stop()
    report["load_avg_end"] = os.getloadavg()
    report["summary"] = summary(report["runs"], list(trees))
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report["summary"], indent=2))
    return 0


def summary(runs: list[dict], names: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per concurrency and engine: medians over the rounds, and against the plain engine of the same round."""
    by_load: dict[int, dict[str, dict[int, dict]]] = {}
    for run in runs:
        by_load.setdefault(run["concurrency"], {}).setdefault(run["engine"], {})[run["round"]] = run
    return {f"c={c}": _summary_at(by_engine, names) for c, by_engine in by_load.items()}


def _summary_at(by_engine: dict[str, dict[int, dict]], names: list[str]) -> dict[str, dict[str, float]]:
    plain = by_engine["plain"]

    def median(name: str, figure: str) -> float:
        return statistics.median(r[figure] for r in by_engine[name].values())

    return {
        name: {
            "p99_ms_median": median(name, "p99_ms"),
            "p99_minus_plain_ms_median": round(
                statistics.median(r["p99_ms"] - plain[k]["p99_ms"] for k, r in by_engine[name].items()), 2
            ),
            "p50_ms_median": median(name, "p50_ms"),
            "requests_per_s_median": median(name, "requests_per_s"),
            "requests_per_s_vs_plain_median": round(
                statistics.median(
                    r["requests_per_s"] / plain[k]["requests_per_s"] - 1 for k, r in by_engine[name].items()
                ),
                3,
            ),
        }
        for name in names
    }


if __name__ == "__main__":
    sys.exit(main())
