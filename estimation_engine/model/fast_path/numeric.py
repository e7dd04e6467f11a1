"""Numeric transformers evaluated with the fitted parameters: the same element-wise numpy operations as
their ``transform`` minus the input validation (imputers' fill values, derived sums/differences,
Yeo-Johnson for all columns at once, standardisation); any other numeric transformer is the fitted object
itself called on a numpy block (a copy that forgets the column names it was fitted with)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, PowerTransformer, StandardScaler

from estimation_engine.model.fast_path import UnsupportedModelError
from estimation_engine.model.fast_path.inputs import Inputs

FEW_ROWS = 16  # up to this many rows, Yeo-Johnson computes both branches and picks (see _yeo_johnson)


def numeric_block(fitted: object, positions: np.ndarray) -> Callable[[Inputs], np.ndarray]:
    """The fitted transformer's output on the numeric features at ``positions`` of a call's numbers."""
    steps = fitted.steps if isinstance(fitted, Pipeline) else [("", fitted)]
    transforms = [_numeric_step(step) for _, step in steps if step not in (None, "passthrough")]

    def block(inputs: Inputs) -> np.ndarray:
        values = inputs.numbers[:, positions]
        for transform in transforms:
            values = transform(values)
        return values

    return block


def _numeric_step(step: object) -> Callable[[np.ndarray], np.ndarray]:
    """The arithmetic of a fitted numeric transformer (its ``transform`` minus the input validation)."""
    if type(step) is SimpleImputer and _plain_imputer(step):
        statistics = step.statistics_.astype(np.float64)
        flagged = step.indicator_.features_ if step.add_indicator else None

        def impute(values: np.ndarray) -> np.ndarray:
            filled = np.where(np.isnan(values), statistics, values)
            # SimpleImputer._concatenate_indicator: the MissingIndicator's booleans appended.
            return filled if flagged is None else np.hstack((filled, np.isnan(values[:, flagged])))

        return impute
    if type(step) is FunctionTransformer:
        func, kw_args = step.func, step.kw_args or {}
        return (lambda values: values) if func is None else (lambda values: func(values, **kw_args))
    if type(step) is PowerTransformer and step.method == "yeo-johnson":
        power = _yeo_johnson(np.asarray(step.lambdas_, dtype=np.float64))
        scale = _standardize(step._scaler) if step.standardize else (lambda values: values)
        return lambda values: scale(power(values))
    if type(step) is StandardScaler:
        return _standardize(step)
    unnamed = _forget_feature_names(step)
    return unnamed.transform


def _yeo_johnson(lambdas: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """scipy.stats.yeojohnson(column, lambda) for every column at once.

    The same element-wise operations as scipy's ``_yeojohnson_transform`` per column (log1p, multiply,
    expm1, divide on the selected values), done for all columns at once instead of a dozen numpy calls per
    column. A few rows take both branches everywhere and pick per element (fewer, cheaper calls than
    masked assignment, which is what a single property pays for); many rows take masked passes, which
    compute each element's branch only. Either way each element gets scipy's expression, so the same number.
    """
    eps = np.finfo(np.float64).eps
    zero = np.abs(lambdas) < eps  # columns whose positive part is log1p
    two = np.abs(lambdas - 2) <= eps  # columns whose negative part is -log1p(-x)
    two_minus = 2 - lambdas

    def picked(values: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # the branch not taken may divide by zero or log a negative
            up, down = np.log1p(values), np.log1p(-values)
            positive = np.where(zero, up, np.expm1(lambdas * up) / lambdas)
            negative = np.where(two, -down, -np.expm1(two_minus * down) / two_minus)
            return np.where(values >= 0, positive, negative)  # NaN is not >= 0: negative, as in scipy

    def masked(values: np.ndarray) -> np.ndarray:
        out = np.zeros_like(values, dtype=np.float64)
        lam = np.broadcast_to(lambdas, values.shape)
        with np.errstate(invalid="ignore"):
            pos = values >= 0  # NaN is not: it takes the negative branch, as in scipy
            general, logarithmic = pos & ~zero, pos & zero
            out[general] = np.expm1(lam[general] * np.log1p(values[general])) / lam[general]
            out[logarithmic] = np.log1p(values[logarithmic])
            general, logarithmic = ~pos & ~two, ~pos & two
            out[general] = -np.expm1((2 - lam[general]) * np.log1p(-values[general])) / (2 - lam[general])
            out[logarithmic] = -np.log1p(-values[logarithmic])
        return out

    def transform(values: np.ndarray) -> np.ndarray:
        return picked(values) if values.shape[0] <= FEW_ROWS else masked(values)

    return transform


def _plain_imputer(imputer: SimpleImputer) -> bool:
    """Fills NaN with a finite number per column and drops no column (indicator columns are fine)."""
    missing = imputer.missing_values
    return (
        isinstance(missing, float)
        and np.isnan(missing)
        and np.issubdtype(np.asarray(imputer.statistics_).dtype, np.number)
        and bool(np.isfinite(imputer.statistics_).all())
    )


def _standardize(scaler: StandardScaler) -> Callable[[np.ndarray], np.ndarray]:
    mean = scaler.mean_ if scaler.with_mean else None
    scale = scaler.scale_ if scaler.with_std else None

    def standardize(values: np.ndarray) -> np.ndarray:
        # StandardScaler.transform on a dense float64 array: subtract, then divide, in place.
        values = values.copy()
        if mean is not None:
            values -= mean
        if scale is not None:
            values /= scale
        return values

    return standardize


def _forget_feature_names(estimator: object) -> object:
    """A shallow copy that takes numpy input without warning it was fitted on named columns."""
    if isinstance(estimator, Pipeline):
        clone = copy.copy(estimator)
        clone.steps = [(name, _forget_feature_names(step)) for name, step in estimator.steps]
        return clone
    if not hasattr(estimator, "transform"):
        raise UnsupportedModelError(f"{type(estimator).__name__} is not a transformer")
    clone = copy.copy(estimator)
    clone.__dict__.pop("feature_names_in_", None)
    return clone
