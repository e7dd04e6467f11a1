"""Fitting a challenger: split the data, fit the pipeline, calibrate its intervals, write its card."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from training.artifact import ModelCard, PriceModel
from training.config import SplitConfig, TrainingConfig
from training.conformal import calibrate
from training.dataset import Dataset
from training.estimator import build_pipeline, describe


@dataclass(frozen=True)
class Split:
    """Row positions of the three disjoint parts: fit, calibrate intervals, test (gate and metrics)."""

    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray


def split_rows(count: int, config: SplitConfig) -> Split:
    """A seeded shuffle cut into train / calibration / test; the same seed gives the same parts."""
    order = np.random.default_rng(config.seed).permutation(count)
    n_test = round(count * config.test_fraction)
    n_calibration = round(count * config.calibration_fraction)
    test, calibration = np.sort(order[:n_test]), np.sort(order[n_test : n_test + n_calibration])
    return Split(train=np.sort(order[n_test + n_calibration :]), calibration=calibration, test=test)


def lineage_key(dataset: Dataset, config: TrainingConfig, code_version: str) -> str:
    """What makes two trainings the same: data, config and code. Same key, same model: no new version."""
    material = f"{dataset.fingerprint}\n{config.digest()}\n{code_version}"
    return hashlib.sha256(material.encode()).hexdigest()


def fit(config: TrainingConfig, dataset: Dataset, split: Split, code_version: str) -> PriceModel:
    """Fit on the train part and calibrate on the calibration part. Deterministic for a given seed."""
    pipeline = build_pipeline(config, dataset.schema)
    pipeline.fit(_rows(dataset.features, split.train), dataset.target.to_numpy()[split.train])
    calibration_prices = pipeline.predict(_rows(dataset.features, split.calibration))
    bands = calibrate(
        np.asarray(calibration_prices, dtype=float),
        dataset.target.to_numpy()[split.calibration],
        config.intervals.coverage,
        config.intervals.price_bands,
    )
    card = ModelCard(
        model_name=config.model_name,
        target=config.data.target,
        features=dataset.schema,
        nominal_coverage=config.intervals.coverage,
        bands=bands,
        metrics={},
        data_fingerprint=dataset.fingerprint,
        lineage_key=lineage_key(dataset, config, code_version),
        estimator=describe(config),
        extra={
            "rows": {
                "train": len(split.train),
                "calibration": len(split.calibration),
                "test": len(split.test),
            }
        },
    )
    return PriceModel(pipeline, card)


def with_metrics(model: PriceModel, metrics: dict[str, float], run_id: str | None) -> PriceModel:
    """The same model with its test metrics and run id written into the card."""
    return PriceModel(model.pipeline, replace(model.card, metrics=metrics, training_run_id=run_id))


def _rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return frame.iloc[positions].reset_index(drop=True)
