"""Building the scikit-learn pipeline the config describes.

All preprocessing lives inside the pipeline (encoding, imputation, derived features), so the saved model
takes raw rows by column name, exactly as the estimation engine receives them. Only scikit-learn and
numpy objects go into the pipeline: the pickle then loads anywhere those libraries are installed, with no
project code needed to unpickle it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.frozen import FrozenEstimator
from sklearn.impute import SimpleImputer
from sklearn.linear_model import HuberRegressor, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, PowerTransformer
from threadpoolctl import threadpool_limits

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
    """The full model, unfitted: per-estimator preprocessing, the (blended) estimators, the log-target
    wrapper. Fitting it directly fits every member on every row; ``fit_model`` honours ``max_rows``."""
    return _assemble(config, [_member(estimator, config, schema) for estimator in config.model.estimators])


def fit_model(
    config: TrainingConfig, schema: Sequence[Feature], features: pd.DataFrame, target: np.ndarray
) -> RegressorMixin:
    """The model fitted on these rows; a member with ``max_rows`` sees a seeded sample of at most that many.

    Such a member (the Huber regression: its solver passes over every row hundreds of times) is fitted
    first on its sample and frozen, then the whole model is fitted as usual, which leaves the frozen
    member as it is. Once fitted it is unwrapped again, so the saved model holds plain scikit-learn
    pipelines, exactly as when every member sees every row.

    BLAS runs on one thread meanwhile. The linear solvers make thousands of small matrix-vector products,
    which OpenBLAS splits among threads that then wait for each other; on a busy machine the waiting
    dominates: the shipped Huber fit on 2,344 Ames rows took 38 s on two BLAS threads and 1.4 s on one
    (benchmarks/README.md, "Training at scale"). The trees use OpenMP and are not affected.
    """
    with threadpool_limits(limits=1, user_api="blas"):
        members: list[RegressorMixin] = []
        member_target = np.log(target) if config.model.log_target else np.asarray(target)
        for estimator in config.model.estimators:
            member = _member(estimator, config, schema)
            if estimator.max_rows is not None and len(features) > estimator.max_rows:
                rows = sample_rows(len(features), estimator.max_rows, config.split.seed)
                member = FrozenEstimator(member.fit(features.iloc[rows], member_target[rows]))
            members.append(member)
        return _unfrozen(_assemble(config, members).fit(features, target))


def sample_rows(rows: int, size: int, seed: int) -> np.ndarray:
    """Positions of ``size`` of ``rows`` rows, drawn without replacement by ``seed``, in row order."""
    return np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False))


def _assemble(config: TrainingConfig, members: list[RegressorMixin]) -> RegressorMixin:
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


def _unfrozen(model: RegressorMixin) -> RegressorMixin:
    """The fitted model with every FrozenEstimator replaced by the estimator it wraps (same predictions)."""
    if isinstance(model, FrozenEstimator):
        return model.estimator
    if isinstance(model, TransformedTargetRegressor):
        model.regressor_ = _unfrozen(model.regressor_)
    elif isinstance(model, VotingRegressor):
        model.estimators_ = [_unfrozen(member) for member in model.estimators_]
        for name, member in model.named_estimators_.items():
            model.named_estimators_[name] = _unfrozen(member)
    return model


def describe(config: TrainingConfig) -> str:
    """A one-line human name for the estimator the config builds (for logs and PR bodies)."""
    parts = []
    for e in config.model.estimators:
        part = f"{e.kind} x{e.weight:g}" if len(config.model.estimators) > 1 else e.kind
        parts.append(part + (f" (at most {e.max_rows:,} rows)" if e.max_rows is not None else ""))
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
