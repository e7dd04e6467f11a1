"""Where a request's CPU goes inside the engine, for source trees side by side: validating the body
(``SchemaDecoder.decode``: msgspec, then ``BatchValidator.typed``) and the model call (the compiled fast path),
per batch size, in-process, without HTTP around them; and what the shadow process spends validating an
exchange of that many single-property requests again (``ShadowModel.columns``).

    git worktree add /tmp/before e7ed2a5   # a tree from f96a9ee on: ShadowModel.columns takes the offers
    .venv/bin/python benchmarks/engine/request_stages.py --tree before=/tmp/before --tree now=. [--rounds 3]

Each tree is measured by an interpreter of its own that imports that tree's code (with this tree's virtualenv),
on the benchmark model (run.py's ``ensure_model``) and the same rows. Trees alternate round after round, so
that the machine's other load falls on all of them; each figure is the best mean over five repeats within a
round, and the report gives the median over rounds. Results land in .bench/engine/request-stages.json; the
figures are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.engine.run import BENCH, sample_rows  # noqa: E402
from benchmarks.engine.shadow import benchmark_settings  # noqa: E402
from benchmarks.engine.shadow_trees import parse_trees  # noqa: E402

SIZES = (1, 8, 32, 1000)
STAGES = ("validate", "model", "shadow_columns")


def measure(rows_file: Path) -> dict:
    """In the child: microseconds per call of each stage and batch size, with the tree on sys.path."""
    from estimation_engine.api.schema_decoding import SchemaDecoder
    from estimation_engine.api.validation import BatchValidator
    from estimation_engine.model.fast_path.compile import compile_pipeline
    from estimation_engine.model.model_loading import load_pinned_model
    from estimation_engine.model.shadow_process import ShadowModel
    from estimation_engine.settings import EngineSettings, UnknownCategoryPolicy

    settings = EngineSettings.from_env()
    served = load_pinned_model(settings)
    card, pipeline = served.model.card, served.model.pipeline
    decoder = SchemaDecoder(card, "properties", BatchValidator(card, UnknownCategoryPolicy.WARN), max(SIZES))
    compiled = compile_pipeline(pipeline, card)
    rows = json.loads(rows_file.read_text())
    import estimation_engine

    shadow = ShadowModel(served, card, settings.model_copy(update={"fast_path": False}))
    found: dict = {"code": estimation_engine.__file__, **{stage: {} for stage in STAGES}}
    for size in SIZES:
        body = json.dumps({"properties": rows[:size]}).encode()
        columns = decoder.decode(body).columns
        # What the shadow process validates per exchange at c=1: ``size`` requests of one property each.
        exchange = [
            ([("properties", json.dumps({"properties": [row]}).encode())], None) for row in rows[:size]
        ]
        number = max(3, 1000 // size)
        calls = {
            "validate": functools.partial(decoder.decode, body),
            "model": functools.partial(compiled, columns, size),
            "shadow_columns": functools.partial(shadow.columns, exchange),
        }
        for stage, call in calls.items():
            best = min(timeit.repeat(call, number=number, repeat=5)) / number
            found[stage][str(size)] = round(best * 1e6, 1)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tree", action="append", required=True, help="NAME=PATH of a source tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH / "request-stages.json")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's mode: the rows file
    args = parser.parse_args()
    if args.measure:  # the child: the tree's code ahead of this one's
        sys.path.insert(0, str(parse_trees(args.tree)["measured"]))
        print(json.dumps(measure(args.measure)))
        return 0
    trees = parse_trees(args.tree)
    BENCH.mkdir(parents=True, exist_ok=True)
    base, _, _ = benchmark_settings()
    rows_file = BENCH / "request-stages-rows.json"
    rows_file.write_text(json.dumps(sample_rows(max(SIZES))))
    runs: list[dict] = []
    for round_ in range(args.rounds):
        for name, tree in trees.items():
            env = base | {"PYTHONPATH": str(tree), "ENGINE_LOG_LEVEL": "WARNING"}
            script = str(Path(__file__).resolve())
            command = [sys.executable, script, "--tree", f"measured={tree}", "--measure", str(rows_file)]
            done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise SystemExit(f"{name}: the measurement failed:\n{done.stderr[-3000:]}")
            runs.append({"round": round_, "tree": name, **json.loads(done.stdout.splitlines()[-1])})
            print(json.dumps(runs[-1]), flush=True)
    summary = {
        name: {
            stage: {
                str(size): statistics.median(r[stage][str(size)] for r in runs if r["tree"] == name)
                for size in SIZES
            }
            for stage in STAGES
        }
        for name in trees
    }
    report = {"load_avg": os.getloadavg(), "trees": {k: str(v) for k, v in trees.items()}, "runs": runs}
    args.out.write_text(json.dumps(report | {"summary_us": summary}, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
