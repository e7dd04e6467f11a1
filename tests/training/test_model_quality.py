"""Model quality on the shipped data: a fast training whose error and interval coverage must hold.

One reduced but otherwise real training (the shipped config on all 2,930 Ames rows and the shipped
hash split, with 25 boosting rounds at learning rate 0.15 and the Huber solver stopped at 150
iterations, as ``tests/conftest.py``'s fast config) runs once for the module: 2 to 5 seconds here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from model_contract.artifact import PriceModel
from tests.conftest import REPO_ROOT, small_config_dict
from training.config import DEFAULT_CONFIG, TrainingConfig, load_config, parse_config
from training.dataset import Dataset, load_dataset
from training.evaluation import metrics
from training.train import Split, fit, split_rows

# Measured 2026-12-02 on scikit-learn 1.9.1, numpy 2.4.6, scipy 1.17.1, Python 3.11.7 with
#   .venv/bin/pytest tests/training/test_model_quality.py -k floor -s
# (the test prints the figure): test-split RMSE of log price 0.1389 (537 test rows). The shipped config
# (400 rounds, converged Huber) gives 0.1335 on the same split; letting this config's Huber converge,
# 0.1397. The floor leaves 0.006 (4 %) for library versions to move the figure, and fails on each of
# these breakages tried by hand: the linear member's numeric scaling dropped (0.1556), its one-hot
# encoding replaced by ordinal codes (0.1768), training on price instead of log price (0.1472).
# Subtler ones (a derived feature computed wrong, 0.1411; the blend weights swapped, 0.1376) are caught
# by the direct checks below, not by the floor.
RMSE_LOG_FLOOR = 0.145


@pytest.fixture(scope="module")
def reduced() -> tuple[TrainingConfig, Dataset, Split, PriceModel]:
    raw = small_config_dict("builtin:ames")
    raw["intervals"] = dict(load_config(DEFAULT_CONFIG).intervals.model_dump())
    config = parse_config(raw, source="reduced shipped config", base_dir=REPO_ROOT)
    dataset = load_dataset(config)
    split = split_rows(dataset, config.split)
    return config, dataset, split, fit(config, dataset, split, "test")


def test_a_reduced_training_on_the_shipped_data_keeps_rmse_of_log_price_under_the_floor(reduced):
    """A broken feature transform, a lost blend member or a wrong target transform shows here first."""
    _, dataset, split, model = reduced
    actual = dataset.target.to_numpy()[split.test]
    estimates = _estimates(model, dataset, split)
    rmse_log = math.sqrt(np.mean((np.log(estimates.price) - np.log(actual)) ** 2))
    print(f"test-split RMSE of log price {rmse_log:.4f} on {len(split.test)} rows")
    assert rmse_log < RMSE_LOG_FLOOR
    assert metrics(actual, estimates)["rmse_log"] == pytest.approx(rmse_log, rel=1e-12)


def test_test_split_coverage_on_the_shipped_data_is_nominal_within_its_sampling_band(reduced):
    """The calibrated 90 % range must cover 90 % of the test split, up to sampling.

    Derivation: given the calibration draw, the m test cases are Bernoulli with the calibrated
    coverage C: variance c(1-c)/m, m = 537 here. C itself is the mean of the bands' Beta-distributed
    coverages (n_b ≈ n_cal/B calibration rows each, variance c(1-c)/(n_b + 2)), so its variance is
    c(1-c)/(n_cal + 2B), n_cal = 578, B = 3; its mean lies in [c, c + 1/(n_b + 1)]. Together sd 0.0179,
    and the test accepts c - 3 sd to c + 1/(n_b + 1) + 3 sd: [0.846, 0.959] (measured: 0.9013). A
    halved conformal rank gives about 0.5; calibrating on the training rows, far too narrow ranges.
    """
    config, dataset, split, model = reduced
    nominal = config.intervals.coverage
    actual = dataset.target.to_numpy()[split.test]
    estimates = _estimates(model, dataset, split)
    coverage = np.mean((actual >= estimates.low) & (actual <= estimates.high))
    m, n_cal, bands = len(split.test), len(split.calibration), len(model.card.bands)
    sd = math.sqrt(nominal * (1 - nominal) * (1 / m + 1 / (n_cal + 2 * bands)))
    low, high = nominal - 3 * sd, nominal + 1 / (n_cal / bands + 1) + 3 * sd
    assert bands == config.intervals.price_bands
    assert low <= coverage <= high, (coverage, low, high)
    assert metrics(actual, estimates)["interval_coverage"] == coverage


def test_the_blend_is_the_configured_weighted_mean_of_its_members_on_log_scale(reduced):
    config, dataset, split, model = reduced
    rows = _test_rows(dataset, split).head(50)
    members = model.pipeline.regressor_.named_estimators_
    weights = [estimator.weight for estimator in config.model.estimators]
    assert weights == [0.6, 0.4] and len(members) == len(weights)
    member_logs = [members[f"{e.kind}_{i}"].predict(rows) for i, e in enumerate(config.model.estimators)]
    expected = np.average(member_logs, axis=0, weights=weights)
    assert np.allclose(np.log(model.pipeline.predict(rows)), expected, rtol=0, atol=1e-12)


def test_derived_features_are_the_configured_sums_and_differences(reduced):
    """Total_SF = basement + first + second floor; the ages are the sale year minus the build or remodel
    year. Trees take them as computed; the linear member then rescales them (checked before scaling)."""
    config, dataset, split, model = reduced
    rows = _test_rows(dataset, split)
    rows = rows.dropna(subset=[c for spec in config.derived_features.values() for c in spec.columns])
    expected = {
        "Total_SF": rows["Total_Bsmt_SF"] + rows["First_Flr_SF"] + rows["Second_Flr_SF"],
        "Age_At_Sale": rows["Year_Sold"] - rows["Year_Built"],
        "Years_Since_Remodel": rows["Year_Sold"] - rows["Year_Remod_Add"],
    }
    assert set(expected) == set(config.derived_features)
    for member in model.pipeline.regressor_.named_estimators_.values():
        columns = member[0].named_transformers_
        for name, values in expected.items():
            spec, transformer = config.derived_features[name], columns[f"derived_{name}"]
            computed = transformer[:2].transform(rows[list(spec.columns)])
            assert np.array_equal(computed.ravel(), values.to_numpy(dtype=float)), name


def test_the_boosting_member_splits_categorical_columns_as_categories(reduced):
    """Ordinal codes read as numbers would still train (RMSE 0.1402 instead of 0.1389 here), so only
    this check notices: HistGradientBoosting must know which of its inputs are categories."""
    config, dataset, _, model = reduced
    categorical = [feature.name for feature in dataset.schema if feature.kind == "categorical"]
    index = next(i for i, e in enumerate(config.model.estimators) if e.kind == "hist_gradient_boosting")
    member = model.pipeline.regressor_.named_estimators_[f"hist_gradient_boosting_{index}"]
    columns = member[0].output_indices_["categorical"]
    mask = member[-1].is_categorical_
    assert mask is not None and columns.stop - columns.start == len(categorical) > 0
    assert np.flatnonzero(mask).tolist() == list(range(columns.start, columns.stop))


def _test_rows(dataset: Dataset, split: Split):
    return dataset.features.iloc[split.test].reset_index(drop=True)


def _estimates(model: PriceModel, dataset: Dataset, split: Split):
    return model.estimate(_test_rows(dataset, split))
