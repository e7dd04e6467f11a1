"""Model quality on the Ames data: 5-fold cross-validated RMSE of log price, and interval coverage.

Measured, not asserted. Runs the shipped config's pipeline side by side with the two reference models of
the data's README (HistGradientBoosting with 800 iterations, RidgeCV on one-hot features), on the same
shuffled folds (seed 0). For the shipped model each fold also calibrates its conformal intervals on a
quarter of the fold's training part and reports coverage on the fold's held-out part.

    .venv/bin/python benchmarks/training/model_quality.py [--output PATH]

The figures are printed as a Markdown table and recorded in ``benchmarks/results/model_quality.json``
(date, command, versions, figures, the shipped config's digest). Copy them into benchmarks/README.md and
commit both: ``tests/training/test_model_quality_record.py`` checks that the README states the recorded
figures for the config that is shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from model_contract.artifact import PriceModel
from training.config import load_config
from training.conformal import calibrate
from training.dataset import load_dataset
from training.estimator import describe, fit_model

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULT_FILE = REPO_ROOT / "benchmarks" / "results" / "model_quality.json"
COMMAND = ".venv/bin/python benchmarks/training/model_quality.py"
SHIPPED_PREFIX = "shipped config: "


def reference_hgb(categorical: list[str], numeric: list[str]):
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2)
    columns = ColumnTransformer([("cat", encoder, categorical), ("num", "passthrough", numeric)])
    model = HistGradientBoostingRegressor(
        max_iter=800, learning_rate=0.05, categorical_features=list(range(len(categorical))), random_state=0
    )
    return make_pipeline(columns, model)


def reference_ridge(categorical: list[str], numeric: list[str]):
    columns = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), categorical),
        ("num", make_pipeline(SimpleImputer(), StandardScaler()), numeric),
    ])  # fmt: skip
    return make_pipeline(columns, RidgeCV(alphas=np.logspace(-2, 3, 30)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=RESULT_FILE, help="where to record the figures (JSON)")
    output = parser.parse_args(argv).output
    config = load_config()
    dataset = load_dataset(config)
    features, y = dataset.features, dataset.target.to_numpy()
    categorical = [f.name for f in dataset.schema if f.kind == "categorical"]
    numeric = [f.name for f in dataset.schema if f.kind == "numeric"]
    candidates = {
        f"{SHIPPED_PREFIX}{describe(config)}": None,  # fitted as training fits it: shipped_fold
        "reference: HistGradientBoosting, 800 iterations": lambda: reference_hgb(categorical, numeric),
        "reference: RidgeCV, one-hot + standardized": lambda: reference_ridge(categorical, numeric),
    }
    folds = list(KFold(5, shuffle=True, random_state=0).split(features))
    print(f"Ames: {len(y)} rows, 5 folds (shuffled, seed 0), target log({config.data.target})\n")
    print("| model | CV RMSE log price (mean ± sd) | fit time per fold |")
    print("|---|---|---|")
    coverage, models = [], []
    for name, make in candidates.items():
        scores, seconds = [], []
        for train, test in folds:
            started = time.perf_counter()
            if name.startswith(SHIPPED_PREFIX):
                score, covered = shipped_fold(config, dataset, train, test)
                coverage.append(covered)
            else:
                model = make().fit(features.iloc[train], np.log(y[train]))
                score = float(np.sqrt(np.mean((model.predict(features.iloc[test]) - np.log(y[test])) ** 2)))
            scores.append(score)
            seconds.append(time.perf_counter() - started)
        models.append(model_figures(name, scores, seconds))
        print(
            f"| {name} | {np.mean(scores):.4f} ± {np.std(scores):.4f} | {np.mean(seconds):.1f}s |", flush=True
        )
    nominal = config.intervals.coverage
    print(f"\nShipped model's {nominal:.0%} intervals, coverage on each held-out fold: "
          + ", ".join(f"{c:.3f}" for c in coverage) + f" (mean {np.mean(coverage):.3f})")  # fmt: skip
    write_result(output, result_record(config.digest(), len(y), models, nominal, coverage))
    print(f"\nRecorded in {output}")
    return 0


def model_figures(name: str, scores: list[float], seconds: list[float]) -> dict:
    return {
        "name": name,
        "rmse_log_mean": float(np.mean(scores)),
        "rmse_log_sd": float(np.std(scores)),
        "rmse_log_by_fold": [float(s) for s in scores],
        "fit_seconds_per_fold": float(np.mean(seconds)),
    }


def result_record(
    config_digest: str, rows: int, models: list[dict], nominal: float, coverage: list[float]
) -> dict:
    """What a run measured, with what and when: the file a test compares benchmarks/README.md with."""
    return {
        "benchmark": "model_quality",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": COMMAND,
        "environment": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            **{library: metadata.version(library) for library in ("scikit-learn", "numpy", "scipy")},
        },
        "data": {"rows": rows, "folds": 5, "fold_seed": 0},
        "shipped_config_digest": config_digest,
        "models": models,
        "shipped_coverage": {
            "nominal": nominal,
            "by_fold": [float(c) for c in coverage],
            "mean": float(np.mean(coverage)),
        },
    }


def write_result(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def shipped_fold(config, dataset, train, test) -> tuple[float, float]:
    """RMSE from a fit on the whole training part (as the references); coverage from a second fit on 3/4
    of it with the intervals calibrated on the other quarter, exactly as training does."""
    features, y = dataset.features, dataset.target.to_numpy()
    full = fit_model(config, dataset.schema, features.iloc[train], y[train])
    rmse = float(np.sqrt(np.mean((np.log(full.predict(features.iloc[test])) - np.log(y[test])) ** 2)))
    shuffled = np.random.default_rng(0).permutation(train)
    cut = int(len(shuffled) * 0.75)
    fit_rows, calibration_rows = shuffled[:cut], shuffled[cut:]
    pipeline = fit_model(config, dataset.schema, features.iloc[fit_rows], y[fit_rows])
    bands = calibrate(pipeline.predict(features.iloc[calibration_rows]), y[calibration_rows],
                      config.intervals.coverage, config.intervals.price_bands)  # fmt: skip
    estimates = PriceModel(pipeline, replace(_card(config, dataset), bands=bands)).estimate(
        features.iloc[test]
    )
    covered = float(np.mean((y[test] >= estimates.low) & (y[test] <= estimates.high)))
    return rmse, covered


def _card(config, dataset):
    """A fold-local model card: only its interval bands matter for bounding."""
    from model_contract.artifact import ModelCard

    return ModelCard(config.model_name, config.data.target, dataset.schema, config.intervals.coverage, (),
                     {}, dataset.fingerprint, "benchmark")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
