"""The training configuration: one YAML file, validated once at the edge, then passed around typed.

Every model is strict (unknown keys are refused, types are not coerced from strings), and every error
names the file and the dotted key that is wrong (``<file>:<key>: <what was wrong>; allowed: <what is
allowed>``, one line each: model_contract.config_error), so a typo in a config never silently trains the
wrong model.

Only ``model_name``, ``data.source`` and ``data.target`` must be given: the model, split, intervals and
gate default to the shipped ones. The defaults are defined here, once; the shipped ``config.yaml`` spells
every one of them out so they can be read there (tests/training/test_config_defaults.py keeps the two
equal).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from model_contract.config_error import ConfigError, dotted, refused, validation_problems

DEFAULT_CONFIG = Path(__file__).with_name("config.yaml")
BUILTIN_PREFIX = "builtin:"
EstimatorKind = Literal["hist_gradient_boosting", "huber", "ridge"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataConfig(_Strict):
    source: str = f"{BUILTIN_PREFIX}ames"
    target: str
    features: Literal["all"] | tuple[str, ...] = "all"
    required_features: tuple[str, ...] = ()
    types: dict[str, Literal["numeric", "categorical"]] = Field(default_factory=dict)
    min_rows: Annotated[int, Field(ge=10)] = 200


class DerivedFeature(_Strict):
    """A feature computed inside the pipeline: the sum of columns, or the second minus the first."""

    sum: tuple[str, ...] | None = None
    difference: tuple[str, str] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DerivedFeature:
        if (self.sum is None) == (self.difference is None):
            given = "both 'sum' and 'difference'" if self.sum else "neither 'sum' nor 'difference'"
            raise refused(f"{given} given", "exactly one of 'sum' or 'difference'")
        if self.sum is not None and len(self.sum) < 2:
            raise refused(f"'sum' has {len(self.sum)} column", "'sum' of at least two columns")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        return self.sum if self.sum is not None else self.difference  # type: ignore[return-value]


class SplitConfig(_Strict):
    seed: int = 42
    test_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2
    calibration_fraction: Annotated[float, Field(gt=0, lt=0.5)] = 0.2


class EstimatorConfig(_Strict):
    kind: EstimatorKind
    weight: Annotated[float, Field(gt=0)] = 1.0
    params: dict[str, int | float | str | bool | tuple[float, ...] | None] = Field(default_factory=dict)
    # Fit this estimator on a seeded sample of at most this many training rows (None: all of them).
    max_rows: Annotated[int, Field(ge=100)] | None = None


# The shipped model: gradient boosting blended with a robust linear model, on log(price). Tuned on the Ames
# data by 5-fold cross-validation (benchmarks/README.md); a sensible start for other sales data.
DEFAULT_ESTIMATORS = (
    EstimatorConfig(
        kind="hist_gradient_boosting",
        weight=0.6,
        params={
            "learning_rate": 0.1,
            "max_iter": 400,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 15,
            "l2_regularization": 0.5,
            "max_features": 0.5,
        },
    ),
    EstimatorConfig(
        kind="huber",
        weight=0.4,
        params={"alpha": 0.001, "epsilon": 1.5, "max_iter": 2000},
        max_rows=10_000,
    ),
)


class ModelConfig(_Strict):
    log_target: bool = True
    estimators: Annotated[tuple[EstimatorConfig, ...], Field(min_length=1)] = DEFAULT_ESTIMATORS


class IntervalConfig(_Strict):
    coverage: Annotated[float, Field(gt=0.5, lt=1.0)] = 0.9
    price_bands: Annotated[int, Field(ge=1, le=10)] = 3


class GateConfig(_Strict):
    metric: Literal["rmse_log", "rmse", "mae", "mape", "r2"] = "rmse_log"
    direction: Literal["minimize", "maximize"] = "minimize"
    min_improvement: Annotated[float, Field(ge=0)] = 0.001

    @model_validator(mode="after")
    def _direction_fits_metric(self) -> GateConfig:
        expected = "maximize" if self.metric == "r2" else "minimize"
        if self.direction != expected:
            raise refused(
                f"direction {self.direction!r} for metric {self.metric}", f"{expected} for {self.metric}"
            )
        return self


class TrainingConfig(_Strict):
    model_name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    data: DataConfig
    derived_features: dict[str, DerivedFeature] = Field(default_factory=dict)
    split: SplitConfig = SplitConfig()
    model: ModelConfig = ModelConfig()
    intervals: IntervalConfig = IntervalConfig()
    gate: GateConfig = GateConfig()
    # Folder the config was read from: relative data paths resolve against it. Not part of the file.
    base_dir: Path = Field(default=Path(), exclude=True)

    @field_validator("derived_features")
    @classmethod
    def _derived_names_are_identifiers(cls, value: dict[str, DerivedFeature]) -> dict[str, DerivedFeature]:
        for name in value:
            if not name.replace("_", "").isalnum():
                raise refused(f"derived feature name {name!r}", "letters, digits and underscores")
        return value

    def digest(self) -> str:
        """A stable hash of what the file says (not where it lives): part of a model's lineage key."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def as_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def load_config(path: Path | None = None) -> TrainingConfig:
    """Read and validate a training config; ConfigError names the file and the offending key."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError.of(str(path), "config file not found", "a training config YAML file") from error
    except yaml.YAMLError as error:
        wrong = f"not valid YAML ({' '.join(str(error).split())})"
        raise ConfigError.of(str(path), wrong, "a YAML mapping of settings") from error
    if not isinstance(raw, dict):
        raise ConfigError.of(
            str(path), "not a mapping of settings", "a YAML mapping of settings at the top level"
        )
    return parse_config(raw, source=str(path), base_dir=path.resolve().parent)


def parse_config(raw: dict, source: str, base_dir: Path) -> TrainingConfig:
    try:
        return TrainingConfig.model_validate({**_listify(raw), "base_dir": base_dir})
    except ValidationError as error:
        key = lambda location: f"{source}:{dotted(location)}"  # noqa: E731
        raise ConfigError(validation_problems(error, TrainingConfig, key)) from error


def _listify(value: object) -> object:
    """YAML gives lists; the strict models want tuples for immutability."""
    if isinstance(value, dict):
        return {key: _listify(item) for key, item in value.items()}
    if isinstance(value, list):
        return tuple(_listify(item) for item in value)
    return value
