"""Building the scikit-learn pipeline the config describes.

All preprocessing lives inside the pipeline (encoding, imputation, derived features), so the saved model
takes raw rows by column name, exactly as the estimation engine receives them. Only scikit-learn and
numpy objects go into the pipeline: the pickle then loads anywhere those libraries are installed, with no
project code needed to unpickle it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import HuberRegressor, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, PowerTransformer

from model_contract.artifact import Feature
from model_contract.config_error import ConfigError
from training.config import DerivedFeature, EstimatorConfig, TrainingConfig

# HistGradientBoosting bins categories; more levels than this are grouped as infrequent.
_MAX_TREE_CATEGORIES = 250
_ESTIMATORS: dict[str, type[RegressorMixin]] = {
    "hist_gradient_boosting": HistGradientBoostingRegressor,
    "huber": HuberRegressor,
    "ridge": RidgeCV,
}


def build_pipeline(config: TrainingConfig, schema: Sequence[Feature]) -> RegressorMixin:
    """The full model: per-estimator preprocessing, the (blended) estimators, the log-target wrapper."""
    members = [_member(estimator, config, schema) for estimator in config.model.estimators]
    if len(members) == 1:
        model: RegressorMixin = members[0]
    else:
        named = [
            (f"{e.kind}_{i}", m)
            for i, (e, m) in enumerate(zip(config.model.estimators, members, strict=True))
        ]
        model = VotingRegressor(named, weights=[e.weight for e in config.model.estimators])
    if not config.model.log_target:
        return model
    return TransformedTargetRegressor(regressor=model, func=np.log, inverse_func=np.exp, check_inverse=False)


def describe(config: TrainingConfig) -> str:
    """A one-line human name for the estimator the config builds (for logs and PR bodies)."""
    parts = [
        f"{e.kind} x{e.weight:g}" if len(config.model.estimators) > 1 else e.kind
        for e in config.model.estimators
    ]
    return " + ".join(parts) + (" on log(price)" if config.model.log_target else "")


def _member(estimator: EstimatorConfig, config: TrainingConfig, schema: Sequence[Feature]) -> Pipeline:
    regressor = _estimator(estimator, config.split.seed)
    categorical = [f.name for f in schema if f.kind == "categorical"]
    numeric = [f.name for f in schema if f.kind == "numeric"]
    if estimator.kind == "hist_gradient_boosting":
        columns = _tree_columns(categorical, numeric, config.derived_features)
        regressor.set_params(categorical_features=list(range(len(categorical))) or None)
    else:
        columns = _linear_columns(categorical, numeric, config.derived_features)
    return make_pipeline(ColumnTransformer(columns, remainder="drop", sparse_threshold=0.0), regressor)


def _estimator(estimator: EstimatorConfig, seed: int) -> RegressorMixin:
    cls = _ESTIMATORS[estimator.kind]
    instance = cls()
    accepted = instance.get_params()
    for key in estimator.params:
        if key not in accepted:
            raise ConfigError.of(
                f"model.estimators[{estimator.kind}].params.{key}", f"not a parameter of {cls.__name__}",
                ", ".join(sorted(accepted)),
            )  # fmt: skip
    params = {k: (list(v) if isinstance(v, tuple) else v) for k, v in estimator.params.items()}
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = seed
    return instance.set_params(**params)


def _derived_transformers(derived: dict[str, DerivedFeature], then: object | None) -> list[tuple]:
    """One column per derived feature: impute, then numpy sum or difference (then scale, for linear)."""
    transformers = []
    for name, spec in derived.items():
        if spec.sum is not None:
            compute = FunctionTransformer(np.sum, kw_args={"axis": 1, "keepdims": True}, validate=True)
        else:
            compute = FunctionTransformer(np.diff, kw_args={"axis": 1}, validate=True)
        steps = [SimpleImputer(strategy="median"), compute] + ([then] if then is not None else [])
        transformers.append((f"derived_{name}", make_pipeline(*steps), list(spec.columns)))
    return transformers


def _tree_columns(
    categorical: list[str], numeric: list[str], derived: dict[str, DerivedFeature]
) -> list[tuple]:
    # Unknown and missing categories both become negative codes, which the trees treat as missing.
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=-1,
        encoded_missing_value=-2,
        max_categories=_MAX_TREE_CATEGORIES,
    )
    columns: list[tuple] = [("categorical", encoder, categorical)] if categorical else []
    columns.append(("numeric", "passthrough", numeric))
    return columns + _derived_transformers(derived, then=None)


def _linear_columns(
    categorical: list[str], numeric: list[str], derived: dict[str, DerivedFeature]
) -> list[tuple]:
    # A value missing in training or left out of a request becomes the most frequent one plus a missing
    # indicator: an all-zero one-hot row would shift a linear model's estimate arbitrarily far.
    columns: list[tuple] = []
    if categorical:
        encoder = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5, sparse_output=False)
        impute = SimpleImputer(strategy="most_frequent", add_indicator=True)
        columns.append(("categorical", make_pipeline(impute, encoder), categorical))
    impute_numbers = SimpleImputer(strategy="median", add_indicator=True)
    columns.append(("numeric", make_pipeline(impute_numbers, PowerTransformer()), numeric))
    return columns + _derived_transformers(derived, then=PowerTransformer())
