"""Compiling a fitted pipeline into one function of typed columns: the model's structure, walked once.

Transformed-target and voting wrappers, ``ColumnTransformer -> regressor`` pipelines, linear models and
boosted trees are compiled; anything else raises UnsupportedModelError and the engine keeps
``pipeline.predict``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.linear_model._base import LinearModel
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from estimation_engine.model.fast_path import Columns, Predict, UnsupportedModelError
from estimation_engine.model.fast_path.inputs import CategoryCodes, Coders, InputLayout, Inputs
from estimation_engine.model.fast_path.tabulate import UNSEEN, column_names, compile_column_transformer
from estimation_engine.model.fast_path.tree_kernel import RowThreads
from estimation_engine.model.fast_path.trees import BoostedTrees
from model_contract.artifact import Feature, ModelCard


def compile_pipeline(pipeline: object, card: ModelCard, threads: int = 1) -> Predict:
    """A function (columns, rows) -> predictions equal to ``pipeline.predict`` on the same frame; the trees
    of a large batch are walked by up to ``threads`` threads."""
    features = {feature.name: feature for feature in card.features}
    coders = {name: CategoryCodes(levels) for name, levels in _known_levels(pipeline, features).items()}
    layout = InputLayout([f.name for f in card.features if f.kind == "numeric"], coders)
    inner = _compile(pipeline, features, Compiling(coders, layout, RowThreads(threads)))

    def predict(columns: Columns, rows: int) -> np.ndarray:
        # The numbers stacked and the categories coded once (inputs.py); every transformer reads those.
        return inner(layout.inputs(columns, rows))

    return predict


Inner = Callable[[Inputs], np.ndarray]  # a compiled estimator: its predictions for one call's inputs


@dataclass(frozen=True)
class Compiling:
    """What every part of one model's compilation shares."""

    coders: Coders
    layout: InputLayout
    threads: RowThreads


def _known_levels(estimator: object, features: Mapping[str, Feature]) -> dict[str, list[str]]:
    """Each categorical feature's levels: the card's, then any other string level a fitted encoder knows
    (such a level would be encoded as known by the pipeline, so it must not be coded as unseen here)."""
    found = {name: dict.fromkeys(f.categories) for name, f in features.items() if f.kind == "categorical"}
    for transformer, names in _column_transformers(estimator, features):
        steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
        for _, step in steps:
            known = getattr(step, "categories_", None)
            for position, name in enumerate(names):
                if known is not None and position < len(known) and name in found:
                    found[name].update((c, None) for c in known[position] if isinstance(c, str))
    return {name: [level for level in levels if level != UNSEEN] for name, levels in found.items()}


def _column_transformers(
    estimator: object, features: Mapping[str, Feature]
) -> list[tuple[object, list[str]]]:
    """Every (fitted transformer, the feature names it reads) inside the model's ColumnTransformers."""
    return [
        (fitted, column_names(selection, features, name))
        for part in nested_estimators(estimator)
        if isinstance(part, ColumnTransformer)
        for name, fitted, selection in part.transformers_
        if not isinstance(fitted, str)
    ]


def nested_estimators(estimator: object) -> Iterator[object]:
    """The estimator and every fitted estimator inside it, depth first, in the order they are applied."""
    yield estimator
    if isinstance(estimator, TransformedTargetRegressor):
        parts = [estimator.regressor_]
    elif isinstance(estimator, VotingRegressor):
        parts = list(estimator.estimators_)
    elif isinstance(estimator, Pipeline):
        parts = [step for _, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer):
        parts = [fitted for _, fitted, _ in estimator.transformers_]
    else:
        parts = []
    for part in parts:
        yield from nested_estimators(part)


def _compile(estimator: object, features: Mapping[str, Feature], compiling: Compiling) -> Inner:
    if isinstance(estimator, TransformedTargetRegressor):
        return _target_transform(estimator, _compile(estimator.regressor_, features, compiling))
    if isinstance(estimator, VotingRegressor):
        members = [_compile(member, features, compiling) for member in estimator.estimators_]
        weights = estimator._weights_not_none

        def vote(inputs: Inputs) -> np.ndarray:
            # VotingRegressor.predict, verbatim.
            return np.average(np.asarray([m(inputs) for m in members]).T, axis=1, weights=weights)

        return vote
    if isinstance(estimator, Pipeline):
        return _pipeline(estimator, features, compiling)
    raise UnsupportedModelError(f"{type(estimator).__name__} at the top of a model")


def _target_transform(estimator: TransformedTargetRegressor, inner: Inner) -> Inner:
    transformer, training_dim = estimator.transformer_, estimator._training_dim
    inverse = transformer.inverse_transform
    if type(transformer) is FunctionTransformer and transformer.inverse_func is not None:
        # FunctionTransformer.inverse_transform minus check_array, which would raise on a non-finite
        # prediction: the engine reports those per property instead (app._run).
        function, kw_args = transformer.inverse_func, transformer.inv_kw_args or {}
        inverse = lambda values: function(values, **kw_args)  # noqa: E731

    def predict(inputs: Inputs) -> np.ndarray:
        # TransformedTargetRegressor.predict, verbatim.
        pred = inner(inputs)
        pred_trans = inverse(pred.reshape(-1, 1) if pred.ndim == 1 else pred)
        if training_dim == 1 and pred_trans.ndim == 2 and pred_trans.shape[1] == 1:
            pred_trans = pred_trans.squeeze(axis=1)
        return pred_trans

    return predict


def _pipeline(pipeline: Pipeline, features: Mapping[str, Feature], compiling: Compiling) -> Inner:
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    if len(steps) != 2 or not isinstance(steps[0], ColumnTransformer):
        raise UnsupportedModelError("a pipeline other than ColumnTransformer -> regressor")
    columns_of = compile_column_transformer(steps[0], features, compiling.coders, compiling.layout)
    regressor = steps[1]
    if isinstance(regressor, HistGradientBoostingRegressor):
        trees = BoostedTrees(regressor, columns_of, compiling.threads)

        def boosted(inputs: Inputs) -> np.ndarray:
            return trees.predict(columns_of(inputs))

        return boosted
    if not hasattr(regressor, "predict") or hasattr(regressor, "feature_names_in_"):
        raise UnsupportedModelError(f"{type(regressor).__name__} after a ColumnTransformer")
    if _plain_linear(regressor):
        coef, intercept = regressor.coef_, regressor.intercept_

        def linear(inputs: Inputs) -> np.ndarray:
            # LinearModel._decision_function on a dense float64 array, minus its input validation.
            return columns_of(inputs) @ coef + intercept

        return linear

    def predict(inputs: Inputs) -> np.ndarray:
        return regressor.predict(columns_of(inputs))

    return predict


def _plain_linear(regressor: object) -> bool:
    """A linear model whose predict is LinearModel's own ``X @ coef_ + intercept_`` with one target."""
    return (
        isinstance(regressor, LinearModel)
        and type(regressor).predict is LinearModel.predict
        and type(regressor)._decision_function is LinearModel._decision_function
        and np.ndim(regressor.coef_) == 1
    )
