"""Training at scale: wall time and peak memory of `training run` at 2.9k, 29k and 293k rows.

Measured, not asserted. The 2,930 rows are the shipped Ames data itself; the larger sets are Ames rows drawn
with replacement, each number nudged by noise of 5 % of its column's spread (zeros stay zero, whole
numbers stay whole, values stay within the column's range) and each price by about 3 %. They are written
as CSV to a temporary folder by this script, never committed.

For each size, in separate processes:

- the whole job, ``python -m training run --config <shipped config on that file>`` on fresh state
  (MLOPS_HOME in a temporary folder: trains, registers v1 and opens the bump pull request): wall time,
  CPU time and peak resident memory of the job's process tree, and the job's own step timings;
- a profile of its stages with the same functions the job calls (read, validate and fingerprint, split,
  fit, calibration, test-split scoring, plots, artifact) and each blend member fitted on its own;
- with ``--baseline REF``, the same whole job from the code at git revision REF (exported to a temporary
  folder, with its own shipped config), side by side, up to ``--baseline-max-rows`` rows.

    .venv/bin/python benchmarks/training/scale.py [--baseline REF] [--sizes 2930,29300,293000]

The machine's load average is recorded before and after each measurement: on a shared machine it moves
the figures more than anything else. Results land in ``benchmarks/results/training_scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_FILE = REPO_ROOT / "benchmarks" / "results" / "training_scale.json"
COMMAND = ".venv/bin/python benchmarks/training/scale.py"
AMES = REPO_ROOT / "training" / "data" / "ames.csv.gz"
AMES_ROWS = 2930
DEFAULT_SIZES = (AMES_ROWS, 10 * AMES_ROWS, 100 * AMES_ROWS)
STEP_LINE = re.compile(r"^\s+(.+): done in ([0-9.]+)s$")


def synthetic_ames(ames: pd.DataFrame, rows: int, seed: int = 0) -> pd.DataFrame:
    """Ames rows drawn with replacement, with small noise on every number (see the module docstring)."""
    generator = np.random.default_rng(seed)
    frame = ames.iloc[generator.integers(0, len(ames), rows)].reset_index(drop=True)
    for column in frame.columns:
        original = ames[column]
        if not pd.api.types.is_numeric_dtype(original):
            continue
        values = frame[column].to_numpy(dtype=float)
        if column == "Sale_Price":
            frame[column] = np.round(values * np.exp(generator.normal(0, 0.03, rows)))
            continue
        noisy = np.where(values != 0, values + generator.normal(0, 0.05 * original.std(), rows), values)
        noisy = np.clip(noisy, original.min(), original.max())
        frame[column] = np.round(noisy).astype("int64") if pd.api.types.is_integer_dtype(original) else noisy
    return frame


def data_file(rows: int, folder: Path) -> Path:
    if rows == AMES_ROWS:
        return AMES
    path = folder / f"ames-synthetic-{rows}.csv"
    if not path.exists():
        synthetic_ames(pd.read_csv(AMES), rows).to_csv(path, index=False)
    return path


def config_for(code: Path, data: Path, folder: Path, label: str) -> Path:
    """The shipped config of ``code`` with its data source pointed at ``data``."""
    raw = yaml.safe_load((code / "training" / "config.yaml").read_text())
    raw["data"]["source"] = str(data)
    path = folder / f"config-{label}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def load() -> float:
    return round(os.getloadavg()[0], 2)


def run_job(code: Path, config: Path, state: Path) -> dict:
    """`python -m training run` from ``code`` on fresh state: wall, CPU, peak RSS of its process tree."""
    environment = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI",)}
    environment.update(MLOPS_HOME=str(state), PYTHONPATH=str(code))
    command = [sys.executable, "-m", "training", "run", "--config", str(config), "--env", "dev"]
    before, started = load(), time.perf_counter()
    process = subprocess.Popen(command, cwd=code, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"training run failed in {code}:\n{output[-3000:]}")
    steps = {m[1]: float(m[2]) for line in output.splitlines() if (m := STEP_LINE.match(line))}
    return {
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "steps_seconds": steps,
        "load_before": before,
        "load_after": load(),
    }


def profile_stages(config_path: Path) -> dict:
    """Each stage of a training run timed on its own, in this process (run in a fresh one per size)."""
    import resource

    from model_contract.artifact import ModelCard, PriceModel, save_model_artifact
    from training.config import ModelConfig, load_config
    from training.conformal import calibrate
    from training.dataset import fingerprint, read_table, resolve_source, validate
    from training.estimator import fit_model
    from training.evaluation import metrics, save_plots
    from training.train import split_rows

    stages: dict[str, dict] = {}

    def timed(name, function, *args):
        started = time.perf_counter()
        result = function(*args)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        stages[name] = {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": round(peak)}
        return result

    config = load_config(config_path)
    name, raw = timed("read file", resolve_source, config)
    frame = timed("parse table", read_table, name, raw)
    dataset = timed("validate and fingerprint", validate, frame, config, name)
    del frame, raw
    timed("fingerprint alone", fingerprint, dataset.features, dataset.target)
    split = timed("split", split_rows, dataset, config.split)
    rows = {part: dataset.features.iloc[getattr(split, part)].reset_index(drop=True) for part in
            ("train", "calibration", "test")}  # fmt: skip
    target = {part: dataset.target.to_numpy()[getattr(split, part)] for part in rows}
    pipeline = timed("fit the model", fit_model, config, dataset.schema, rows["train"], target["train"])
    predicted = timed("predict the calibration split", pipeline.predict, rows["calibration"])
    bands = timed("calibrate", calibrate, predicted, target["calibration"], config.intervals.coverage,
                  config.intervals.price_bands)  # fmt: skip
    model = PriceModel(pipeline, ModelCard(config.model_name, config.data.target, dataset.schema,
                       config.intervals.coverage, bands, {}, dataset.fingerprint, "bench"))  # fmt: skip
    actual = target["test"]
    estimates = timed("estimate the test split", model.estimate, rows["test"])
    timed("metrics", metrics, actual, estimates)
    with tempfile.TemporaryDirectory() as folder:
        timed("plots", save_plots, actual, estimates, config.intervals.coverage, Path(folder) / "plots")
        timed("save artifact", save_model_artifact, Path(folder) / "model", model.pipeline, model.card,
              dataset.features, [])  # fmt: skip
    for index, estimator in enumerate(config.model.estimators):
        alone = config.model_copy(update={"model": ModelConfig(log_target=config.model.log_target,
                                                                estimators=(estimator,))})  # fmt: skip
        timed(f"member {index} alone: {estimator.kind}", fit_model, alone, dataset.schema, rows["train"],
              target["train"])  # fmt: skip
    return {"rows": len(dataset), "stages": stages}


def measure(sizes: list[int], baseline: str | None, baseline_max_rows: int, folder: Path) -> dict:
    codes = {"current": REPO_ROOT}
    if baseline:
        codes[f"baseline {baseline}"] = export(baseline, folder / "baseline")
    results = []
    for rows in sizes:
        data = data_file(rows, folder)
        entry: dict = {"rows": rows, "data": "training/data/ames.csv.gz" if data == AMES else "synthetic"}
        for label, code in codes.items():
            if label != "current" and rows > baseline_max_rows:
                continue
            config = config_for(code, data, folder, f"{label.split()[0]}-{rows}")
            entry[label] = run_job(code, config, folder / f"state-{label.split()[0]}-{rows}")
            print(f"{rows:>8} rows, {label}: {entry[label]}", flush=True)
        entry["stages"] = stage_profile(config_for(REPO_ROOT, data, folder, f"profile-{rows}"))
        print(f"{rows:>8} rows, stages: {entry['stages']}", flush=True)
        results.append(entry)
    return {"sizes": results, "baseline": baseline}


def stage_profile(config: Path) -> dict:
    before = load()
    completed = subprocess.run(
        [sys.executable, __file__, "--profile-stages", str(config)],
        cwd=REPO_ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    if completed.returncode != 0:
        raise RuntimeError(f"stage profile failed:\n{completed.stderr[-3000:]}")
    return {
        **json.loads(completed.stdout.strip().splitlines()[-1]),
        "load_before": before,
        "load_after": load(),
    }


def export(revision: str, target: Path) -> Path:
    """The repository's files at ``revision`` in ``target`` (no .git: the job seeds its remote from files)."""
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=REPO_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def record(measured: dict, sizes: list[int]) -> dict:
    return {
        "benchmark": "training_scale",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": COMMAND,
        "environment": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
            **{
                library: metadata.version(library) for library in ("scikit-learn", "numpy", "scipy", "pandas")
            },
        },
        "requested_sizes": sizes,
        **measured,
    }


def markdown(result: dict) -> str:
    labels = [key for key in result["sizes"][0] if key == "current" or key.startswith("baseline")]
    lines = ["| rows | code | wall | CPU | peak RSS | load before → after |", "|---|---|---|---|---|---|"]
    for entry in result["sizes"]:
        for label in labels:
            if label in entry:
                job = entry[label]
                lines.append(
                    f"| {entry['rows']:,} | {label} | {job['wall_seconds']:.1f} s | {job['cpu_seconds']:.1f} s | "
                    f"{job['peak_rss_mb']:,} MB | {job['load_before']} → {job['load_after']} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)))
    parser.add_argument(
        "--baseline", help="git revision whose code runs side by side (e.g. the last release)"
    )
    parser.add_argument("--baseline-max-rows", type=int, default=29300)
    parser.add_argument("--output", type=Path, default=RESULT_FILE)
    parser.add_argument("--profile-stages", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.profile_stages:
        print(json.dumps(profile_stages(args.profile_stages)))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"load average before: {load()} ({os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="training-scale-") as folder:
        result = record(measure(sizes, args.baseline, args.baseline_max_rows, Path(folder)), sizes)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + markdown(result) + f"\n\nRecorded in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
