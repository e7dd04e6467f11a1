"""The parallel step's entry script: Azure ML's ``init()`` / ``run(mini_batch)`` contract around run_batch.

Azure ML starts worker processes on every node of the cluster; each calls ``init()`` once, then ``run``
with one mini-batch at a time: here a list of input file paths (a ``uri_folder`` input split by file,
``mini_batch_size`` files per call). ``init`` loads and compiles the pinned model once per process;
``run`` writes, for each input file, ``<name>.estimates.parquet`` and ``<name>.refused.parquet`` into the
output folder with the same code as ``python -m estimation_engine batch``, and returns one summary line
per file (each element counts as one input processed; with no ``append_row_to`` the lines only reach the
logs). A file that cannot be read raises, so the mini-batch fails and the job's error thresholds (zero:
pipeline_job.py) fail the job instead of dropping the file's properties.

The arguments are the step's ``program_arguments``; the driver adds its own, hence ``parse_known_args``.
The model comes from the workspace registry, which Azure ML names in ``MLFLOW_TRACKING_URI`` inside the job.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

# The uploaded code is this repository; the driver imports this file by path, so make its root importable.
_REPOSITORY = Path(__file__).resolve().parents[3]
if str(_REPOSITORY) not in sys.path:
    sys.path.insert(0, str(_REPOSITORY))

from estimation_engine.batch.batch_model import ModelChoice, batch_settings, load_batch_model  # noqa: E402
from estimation_engine.batch.runner import BatchRequest, run_batch  # noqa: E402

_worker: dict[str, Any] = {}


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(allow_abbrev=False, description="batch estimates entry script")
    parser.add_argument("--model-name", required=True)
    parser.add_argument("--model-version", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True, help="the step's output folder")
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--threads", type=int, default=1, help="tree threads per worker process")
    known, _ = parser.parse_known_args(argv)
    return known


def init(argv: list[str] | None = None) -> None:
    """Once per worker process: settings from the job's environment, the model loaded and compiled."""
    args = arguments(argv)
    settings = batch_settings(ModelChoice(version=args.model_version, name=args.model_name))
    _worker.update(args=args, settings=settings, model=load_batch_model(settings, args.threads))
    args.output.mkdir(parents=True, exist_ok=True)


def run(mini_batch: list[str]) -> list[str]:
    """Estimate each file of the mini-batch; one summary line per file."""
    args, settings, model = _worker["args"], _worker["settings"], _worker["model"]
    lines = []
    for path in mini_batch:
        source = Path(path)
        name = source.name.split(".", 1)[0] or source.name
        output = args.output / f"{name}.estimates.parquet"
        if output.exists():
            raise FileExistsError(f"{source}: {output} was already written for another input file of the same name")  # fmt: skip
        request = BatchRequest(
            input=source,
            output=output,
            refused=args.output / f"{name}.refused.parquet",
            id_column=args.id_column,
        )
        summary = run_batch(request, model, settings, sys.stderr)
        lines.append(
            f"{source.name}: {summary.rows_read} read, {summary.estimated} estimated, "
            f"{summary.refused} refused, {summary.with_warnings} with warnings, {summary.seconds:.1f} s"
        )
        print(lines[-1], flush=True)
    return lines
