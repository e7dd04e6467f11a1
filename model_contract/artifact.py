"""The model artifact: what training writes, the registry stores and the estimation engine loads.

A model artifact is a folder that is at once a valid MLflow model (sklearn flavour, so Azure ML and
``mlflow models serve`` understand it) and carries ``estimation.json``, the card the engine needs: the input
signature, the conformal interval bands, the metrics, the lineage and the range of each numeric feature in
the training rows. Its integrity is one sha256 over the
whole folder (``artifact_digest``), recorded at registration and checked by the engine before it serves.

This module is the read side the engine imports, so it must stay light: numpy and pandas at import time,
MLflow only inside the save function that training calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import pickle
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

ARTIFACT_FORMAT = 1
CARD_FILE = "estimation.json"
MODEL_FILE = "model.pkl"

TRAINING_RANGES = "training_ranges"  # keys of ModelCard.extra
TARGET_RANGE = "target_range"

FeatureKind = Literal["numeric", "categorical"]


class ArtifactError(RuntimeError):
    """An artifact folder is incomplete, of an unknown format, or does not match its checksum."""


@dataclass(frozen=True)
class Feature:
    """One input the model takes. ``categories`` lists the levels seen in training (categorical only)."""

    name: str
    kind: FeatureKind
    required: bool = False
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntervalBand:
    """Split-conformal half-width (log scale) for predictions up to ``upper_log_price``.

    Bands partition the predicted price range (Mondrian conformal prediction): each band has its own
    calibrated half-width, so cheap and expensive homes both get ranges that hold at the nominal rate.
    """

    upper_log_price: float | None
    halfwidth_log: float


@dataclass(frozen=True)
class TrainingRange:
    """What the training rows held of one numeric feature: its extremes, and the 0.1 % and 99.9 %
    quantiles (where the bulk of the data ends: shown to callers in ``GET /v1/model``).

    A value between ``minimum`` and ``maximum`` is one the model has seen rows around; outside, a tree
    answers as at the nearest extreme and a linear member extrapolates. The engine decides on the
    extremes, not the quantiles: a range that excludes 0.2 % of the very rows the model learned from
    would flag thousands of ordinary properties in a portfolio run, and sparse features (a miscellaneous
    value that is zero for 96 % of Ames) have quantile spans far narrower than their real values.
    """

    minimum: float
    maximum: float
    q001: float
    q999: float
    rows: int

    @property
    def scale(self) -> float:
        """How large this feature's numbers are, the unit "far outside" is measured in: the span of the
        training values or their largest magnitude, whichever is larger. 0 for a feature that was always
        zero (no pool in a few hundred rows): there is then nothing to call a value far against."""
        return max(self.maximum - self.minimum, abs(self.minimum), abs(self.maximum))

    @classmethod
    def of(cls, values: np.ndarray) -> TrainingRange | None:
        """The range of a training column (missing values ignored); None when it holds no value."""
        present = values[~np.isnan(values)]
        if present.size == 0:
            return None
        low, high = float(present.min()), float(present.max())
        q001, q999 = np.quantile(present, [0.001, 0.999]).tolist()
        return cls(low, high, min(max(q001, low), high), min(max(q999, low), high), int(present.size))


@dataclass(frozen=True)
class ModelCard:
    """Everything about a trained model that is not its weights."""

    model_name: str
    target: str
    features: tuple[Feature, ...]
    nominal_coverage: float
    bands: tuple[IntervalBand, ...]
    metrics: Mapping[str, float]
    data_fingerprint: str
    lineage_key: str
    training_run_id: str | None = None
    estimator: str = ""
    format_version: int = ARTIFACT_FORMAT
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def training_ranges(self) -> dict[str, TrainingRange]:
        """Each numeric feature's range in the training rows; empty for models trained before ranges were
        recorded (they are served as before, without range warnings).

        Kept in ``extra`` rather than as a field of the card or of ``Feature``: an engine of the previous
        release refuses a card with a key it does not know, and it must still load models trained by this
        one (an image rolled back while the model pin stays).
        """
        raw = self.extra.get(TRAINING_RANGES) or {}
        if not isinstance(raw, Mapping):
            raise ValueError(f"extra.{TRAINING_RANGES} must map feature names to ranges, got {raw!r}")
        numeric = {feature.name for feature in self.features if feature.kind == "numeric"}
        for name in raw:
            if name not in numeric:
                raise ValueError(
                    f"extra.{TRAINING_RANGES}.{name}: {name!r} is not a numeric feature of this model"
                )
        return {
            name: _training_range(f"extra.{TRAINING_RANGES}.{name}", values) for name, values in raw.items()
        }

    def target_range(self) -> TrainingRange | None:
        """The target's range in the training rows (prices): what an estimate can sensibly be near.
        None for models trained before it was recorded."""
        raw = self.extra.get(TARGET_RANGE)
        return None if raw is None else _training_range(f"extra.{TARGET_RANGE}", raw)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str) -> ModelCard:
        try:
            raw = json.loads(text)
            if raw.get("format_version") != ARTIFACT_FORMAT:
                raise ArtifactError(
                    f"{source}: artifact format {raw.get('format_version')!r} is not supported "
                    f"(this code reads format {ARTIFACT_FORMAT})"
                )
            raw["features"] = tuple(
                Feature(**{**f, "categories": tuple(f.get("categories", ()))}) for f in raw["features"]
            )
            raw["bands"] = tuple(IntervalBand(**band) for band in raw["bands"])
            card = cls(**raw)
            card.training_ranges()  # refused at load, not at the first request that needs them
            card.target_range()
            return card
        except (KeyError, TypeError, ValueError) as error:
            raise ArtifactError(f"{source}: not a valid model card: {error}") from error


def _training_range(where: str, values: Any) -> TrainingRange:
    try:
        bounds = TrainingRange(**values)
    except TypeError as error:
        raise ValueError(f"{where}: {error}") from None
    numbers = astuple(bounds)
    if not all(type(v) in (int, float) and math.isfinite(v) for v in numbers):
        raise ValueError(f"{where}: every value must be a finite number, got {values}")
    if not bounds.minimum <= bounds.q001 <= bounds.q999 <= bounds.maximum:
        raise ValueError(f"{where}: expected minimum <= q001 <= q999 <= maximum, got {values}")
    return bounds


@dataclass(frozen=True)
class Estimates:
    """Prices and their prediction interval, one entry per input row, in the target's units."""

    price: np.ndarray
    low: np.ndarray
    high: np.ndarray


class PriceModel:
    """A loaded model: the scikit-learn pipeline (which predicts prices) plus its card (which bounds them)."""

    def __init__(self, pipeline: Any, card: ModelCard) -> None:
        self.pipeline = pipeline
        self.card = card
        uppers = [band.upper_log_price for band in card.bands[:-1]]
        self._band_edges = np.asarray(uppers, dtype=float)
        self._halfwidths = np.asarray([band.halfwidth_log for band in card.bands], dtype=float)

    def frame(self, records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
        """Rows by feature name -> the typed frame the pipeline was trained on (missing -> NaN)."""
        return model_frame(pd.DataFrame.from_records(list(records)), self.card.features)

    def estimate(self, frame: pd.DataFrame) -> Estimates:
        price = np.asarray(self.pipeline.predict(frame), dtype=float)
        return self.bound(price)

    def bound(self, price: np.ndarray) -> Estimates:
        """The conformal interval around point predictions (used by evaluation and serving alike)."""
        with np.errstate(divide="ignore"):  # a price of 0 (a model underflowing) has no interval: -inf
            log_price = np.log(price)
        halfwidth = self._halfwidths[np.searchsorted(self._band_edges, log_price, side="right")]
        return Estimates(price=price, low=np.exp(log_price - halfwidth), high=np.exp(log_price + halfwidth))


def model_frame(frame: pd.DataFrame, features: Iterable[Feature]) -> pd.DataFrame:
    """Coerce a frame to the model's columns and dtypes: numbers as float64, categories as objects.

    Training and serving both go through this function, so the pipeline sees identically typed input
    whether rows came from a CSV file or from JSON. Absent columns become missing values.
    """
    columns: dict[str, pd.Series] = {}
    for feature in features:
        values = frame[feature.name] if feature.name in frame else pd.Series([None] * len(frame))
        values = values.reset_index(drop=True)
        if feature.kind == "numeric":
            columns[feature.name] = pd.to_numeric(values, errors="raise").astype("float64")
        else:
            columns[feature.name] = values.astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(columns)


def artifact_digest(directory: Path) -> str:
    """sha256 over every file of the artifact (relative path and content), independent of mtime."""
    return _digest(_read_files(directory))


def load_model_artifact(directory: Path, expected_sha256: str | None = None) -> PriceModel:
    """Load an artifact folder; with ``expected_sha256``, refuse it unless the folder matches.

    The files are read once: the bytes hashed are the bytes unpickled, so nothing can swap the model
    between the check and the load.
    """
    files = _read_files(directory)
    if expected_sha256 is not None:
        actual = _digest(files)
        if actual != expected_sha256:
            raise ArtifactError(
                f"{directory}: checksum mismatch: registry records sha256 {expected_sha256}, folder has {actual}"
            )
    for name in (CARD_FILE, MODEL_FILE):
        if name not in files:
            raise ArtifactError(f"{directory}: not a model artifact, {name} is missing")
    card = ModelCard.from_json(files[CARD_FILE].decode(), str(directory / CARD_FILE))
    # Trusted only because these very bytes matched the registry's checksum (see above).
    pipeline = pickle.loads(files[MODEL_FILE])
    return PriceModel(pipeline, card)


def _read_files(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        raise ArtifactError(f"{directory}: artifact folder does not exist")
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for relative in sorted(files):
        digest.update(relative.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(files[relative]).hexdigest().encode())
        digest.update(b"\n")
    return digest.hexdigest()


def save_model_artifact(
    directory: Path, pipeline: Any, card: ModelCard, input_example: pd.DataFrame, pip_requirements: list[str]
) -> str:
    """Write the artifact folder (MLflow sklearn model + card) and return its sha256."""
    _check_finite(card)
    import mlflow.sklearn  # heavy: only training saves models
    from mlflow.models import infer_signature

    sample = input_example.head(5)
    signature = infer_signature(sample, pipeline.predict(sample))
    # MLflow warns that pickles run code on load; ours are only loaded after their sha256 is verified.
    logging.getLogger("mlflow.sklearn").setLevel(logging.ERROR)
    mlflow.sklearn.save_model(
        pipeline,
        str(directory),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
        signature=signature,
        pip_requirements=pip_requirements,
    )
    (directory / CARD_FILE).write_text(card.to_json())
    return artifact_digest(directory)


def _check_finite(card: ModelCard) -> None:
    """Refuse to write a card the engine would refuse to read."""
    for band in card.bands:
        if not math.isfinite(band.halfwidth_log) or band.halfwidth_log < 0:
            raise ArtifactError(f"interval band {band} has no finite non-negative half-width")
    try:
        card.training_ranges()
        card.target_range()
    except ValueError as error:
        raise ArtifactError(f"model card: {error}") from None
