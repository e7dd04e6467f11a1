"""Fitting a challenger: split the data, fit the pipeline, calibrate its intervals, write its card."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from model_contract.artifact import TARGET_RANGE, TRAINING_RANGES, ModelCard, PriceModel, TrainingRange
from training.config import SplitConfig, TrainingConfig
from training.conformal import calibrate
from training.dataset import Dataset
from training.estimator import describe, fit_model


@dataclass(frozen=True)
class Split:
    """Row positions of the three disjoint parts: fit, calibrate intervals, test (gate and metrics)."""

    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray


def split_rows(dataset: Dataset, config: SplitConfig) -> Split:
    """Cut the rows into train / calibration / test by a seeded hash of each row's content.

    A row's part depends on its values and the seed, not on its position or on the other rows: when the
    data grows or changes, the rows the champion was tested on are still test rows, so the challenger is
    never compared with a champion scored on rows it was trained on. Same data and seed, same parts.
    """
    key = hashlib.sha256(f"split-{config.seed}".encode()).hexdigest()[:16]
    rows = dataset.features.assign(__target__=dataset.target.to_numpy())
    hashes = pd.util.hash_pandas_object(rows, index=False, hash_key=key).to_numpy(dtype=np.uint64)
    uniform = hashes / float(2**64)
    test_cut, calibration_cut = config.test_fraction, config.test_fraction + config.calibration_fraction
    positions = np.arange(len(uniform))
    return Split(
        train=positions[uniform >= calibration_cut],
        calibration=positions[(uniform >= test_cut) & (uniform < calibration_cut)],
        test=positions[uniform < test_cut],
    )


def lineage_key(dataset: Dataset, config: TrainingConfig) -> str:
    """What makes two trainings the same: data, config and training code. Same key: no new version."""
    material = f"{dataset.fingerprint}\n{config.digest()}\n{code_fingerprint()}"
    return hashlib.sha256(material.encode()).hexdigest()


@functools.cache
def code_fingerprint() -> str:
    """The training code and the libraries that shape the model: a commit that touches neither (docs,
    infra) trains the same model, so it must not look like new code; the git commit is kept as provenance."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    for library in ("scikit-learn", "numpy", "pandas", "scipy"):
        digest.update(f"{library}=={metadata.version(library)}\n".encode())
    return digest.hexdigest()


def fit(config: TrainingConfig, dataset: Dataset, split: Split, code_version: str) -> PriceModel:
    """Fit on the train part and calibrate on the calibration part. Deterministic for a given seed."""
    target = dataset.target.to_numpy()
    train_rows = _rows(dataset.features, split.train)
    pipeline = fit_model(config, dataset.schema, train_rows, target[split.train])
    calibration_prices = pipeline.predict(_rows(dataset.features, split.calibration))
    bands = calibrate(
        np.asarray(calibration_prices, dtype=float),
        target[split.calibration],
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
        lineage_key=lineage_key(dataset, config),
        estimator=describe(config),
        extra={
            "git_commit": code_version,
            "rows": {
                "train": len(split.train),
                "calibration": len(split.calibration),
                "test": len(split.test),
            },
            TRAINING_RANGES: training_ranges(dataset, train_rows),
            TARGET_RANGE: asdict(TrainingRange.of(target[split.train])),
        },
    )
    return PriceModel(pipeline, card)


def training_ranges(dataset: Dataset, train_rows: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Each numeric feature's range in the rows the model was fitted on (not the calibration or test
    rows: those it never learned from), as the card stores it; the engine warns outside it."""
    ranges = {}
    for feature in dataset.schema:
        if feature.kind == "numeric":
            seen = TrainingRange.of(train_rows[feature.name].to_numpy(dtype=float))
            if seen is not None:
                ranges[feature.name] = asdict(seen)
    return ranges


def with_metrics(model: PriceModel, metrics: dict[str, float], run_id: str | None) -> PriceModel:
    """The same model with its test metrics and run id written into the card."""
    return PriceModel(model.pipeline, replace(model.card, metrics=metrics, training_run_id=run_id))


def _rows(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return frame.iloc[positions].reset_index(drop=True)
