"""Model quality on the Ames data: 5-fold cross-validated RMSE of log price, and interval coverage.

Measured, not asserted. Runs the shipped config's pipeline side by side with the two reference models of
the data's README (HistGradientBoosting with 800 iterations, RidgeCV on one-hot features), on the same
shuffled folds (seed 0). For the shipped model each fold also calibrates its conformal intervals on a
quarter of the fold's training part and reports coverage on the fold's held-out part.

    .venv/bin/python benchmarks/training/model_quality.py
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from training.artifact import PriceModel
from training.config import load_config
from training.conformal import calibrate
from training.dataset import load_dataset
from training.estimator import build_pipeline, describe


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


def main() -> int:
    config = load_config()
    dataset = load_dataset(config)
    features, y = dataset.features, dataset.target.to_numpy()
    categorical = [f.name for f in dataset.schema if f.kind == "categorical"]
    numeric = [f.name for f in dataset.schema if f.kind == "numeric"]
    candidates = {
        f"shipped config: {describe(config)}": lambda: build_pipeline(config, dataset.schema),
        "reference: HistGradientBoosting, 800 iterations": lambda: reference_hgb(categorical, numeric),
        "reference: RidgeCV, one-hot + standardized": lambda: reference_ridge(categorical, numeric),
    }
    folds = list(KFold(5, shuffle=True, random_state=0).split(features))
    print(f"Ames: {len(y)} rows, 5 folds (shuffled, seed 0), target log({config.data.target})\n")
    print("| model | CV RMSE log price (mean ± sd) | fit time per fold |")
    print("|---|---|---|")
    coverage = []
    for name, make in candidates.items():
        scores, seconds = [], []
        for train, test in folds:
            started = time.perf_counter()
            if name.startswith("shipped"):
                score, covered = shipped_fold(config, dataset, train, test, make)
                coverage.append(covered)
            else:
                model = make().fit(features.iloc[train], np.log(y[train]))
                score = float(np.sqrt(np.mean((model.predict(features.iloc[test]) - np.log(y[test])) ** 2)))
            scores.append(score)
            seconds.append(time.perf_counter() - started)
        print(
            f"| {name} | {np.mean(scores):.4f} ± {np.std(scores):.4f} | {np.mean(seconds):.1f}s |", flush=True
        )
    nominal = config.intervals.coverage
    print(f"\nShipped model's {nominal:.0%} intervals, coverage on each held-out fold: "
          + ", ".join(f"{c:.3f}" for c in coverage) + f" (mean {np.mean(coverage):.3f})")  # fmt: skip
    return 0


def shipped_fold(config, dataset, train, test, make) -> tuple[float, float]:
    """RMSE from a fit on the whole training part (as the references); coverage from a second fit on 3/4
    of it with the intervals calibrated on the other quarter, exactly as training does."""
    features, y = dataset.features, dataset.target.to_numpy()
    full = make().fit(features.iloc[train], y[train])
    rmse = float(np.sqrt(np.mean((np.log(full.predict(features.iloc[test])) - np.log(y[test])) ** 2)))
    shuffled = np.random.default_rng(0).permutation(train)
    cut = int(len(shuffled) * 0.75)
    fit_rows, calibration_rows = shuffled[:cut], shuffled[cut:]
    pipeline = make().fit(features.iloc[fit_rows], y[fit_rows])
    bands = calibrate(pipeline.predict(features.iloc[calibration_rows]), y[calibration_rows],
                      config.intervals.coverage, config.intervals.price_bands)  # fmt: skip
    estimates = PriceModel(pipeline, replace(_card(config, dataset), bands=bands)).estimate(
        features.iloc[test]
    )
    covered = float(np.mean((y[test] >= estimates.low) & (y[test] <= estimates.high)))
    return rmse, covered


def _card(config, dataset):
    """A fold-local model card: only its interval bands matter for bounding."""
    from training.artifact import ModelCard

    return ModelCard(config.model_name, config.data.target, dataset.schema, config.intervals.coverage, (),
                     {}, dataset.fingerprint, "benchmark")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
