"""A faster evaluation of the fitted pipeline that gives the same numbers, verified before it is used.

Where the time goes in ``pipeline.predict`` for a few rows of the production model (measured, see
benchmarks/README.md): not in arithmetic but in per-call Python work — column-by-column validation and
encoding of the DataFrame in every ColumnTransformer and encoder, the gradient boosting model's own
internal encoder, and a Python loop over the boosting iterations (400 in the shipped config), each
entering OpenMP. This module evaluates the same fitted objects with far fewer calls:

- each categorical column becomes level codes once per request (the card's levels and any other level a
  fitted encoder knows, then missing, then unseen); categorical transformers (encoders and imputers, which
  map each value independently) are tabulated at load by running the fitted transformer itself on every
  level, so a request costs one gather per transformer; the boosting model's internal encoder is folded
  into those tables at load;
- numeric transformers apply the fitted parameters with the same element-wise numpy operations as their
  ``transform`` minus the input validation (imputers' fill values, derived sums/differences, Yeo-Johnson
  for all columns at once, standardisation); any other numeric transformer is the fitted object itself
  called on a numpy block (a copy that forgets the column names it was fitted with); a linear model is
  ``X @ coef_ + intercept_``, as ``LinearModel.predict`` computes it;
- the gradient-boosted trees are walked by one compiled loop over all trees (tree_kernel.py), following
  scikit-learn's own traversal rules and summing leaf values in iteration order exactly like scikit-learn.

Anything else is not compiled (UnsupportedModelError) and the engine uses ``pipeline.predict``. A compiled
model is only used after ``verify`` found it bit-for-bit equal to the pipeline on probe rows; it reaches
into private scikit-learn members (the boosting model's internal encoder, bin mapper and predictors),
which is why that check runs on every load rather than being trusted across scikit-learn versions. One
difference is deliberate: where the pipeline's target transformer raises on a non-finite prediction
(its input check), the compiled model returns it, and the engine answers 422 for that property.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model._base import LinearModel
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    StandardScaler,
)
from sklearn.utils.validation import check_array

from estimation_engine.tree_kernel import FlatForest, RowThreads
from model_contract.artifact import Feature, ModelCard

Columns = Mapping[str, np.ndarray]
Predict = Callable[[Columns, int], np.ndarray]
Coders = Mapping[str, "_CategoryCodes"]

_UNSEEN = "\x00unseen level\x00"
_LOOKUP_TRANSFORMERS = (OrdinalEncoder, OneHotEncoder, SimpleImputer)


class UnsupportedModelError(Exception):
    """The pipeline holds something this module does not know how to evaluate exactly."""


def compile_pipeline(pipeline: object, card: ModelCard, threads: int = 1) -> Predict:
    """A function (columns, rows) -> predictions equal to ``pipeline.predict`` on the same frame; the trees
    of a large batch are walked by up to ``threads`` threads."""
    features = {feature.name: feature for feature in card.features}
    coders = {name: _CategoryCodes(levels) for name, levels in _known_levels(pipeline, features).items()}
    inner = _compile(pipeline, features, coders, RowThreads(threads))

    def predict(columns: Columns, rows: int) -> np.ndarray:
        # Each categorical column becomes level codes once; every tabulated transformer indexes by them.
        coded = dict(columns)
        for name, coder in coders.items():
            coded[name] = coder.encode(columns[name], rows)
        return inner(coded, rows)

    return predict


class _CategoryCodes:
    """A categorical column's values as integer codes: its levels 0..n-1, then missing, then unseen."""

    def __init__(self, levels: Sequence[str]) -> None:
        self.levels = list(levels)
        self.missing, self.unseen = len(self.levels), len(self.levels) + 1
        self.index = _LevelIndex({level: code for code, level in enumerate(self.levels)})
        self.index[np.nan] = self.missing  # found by identity: validation writes np.nan itself for missing
        self.index.codes = self

    def encode(self, values: np.ndarray, rows: int) -> np.ndarray:
        # One C-level pass of dictionary lookups; only values that are not known levels reach Python.
        return np.fromiter(map(self.index.__getitem__, values.tolist()), dtype=np.intp, count=rows)


class _LevelIndex(dict):
    """level -> code; anything else is missing (a float: NaN, see validation.py) or an unseen level."""

    codes: _CategoryCodes

    def __missing__(self, value: object) -> int:
        return self.codes.unseen if value.__class__ is str else self.codes.missing


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
    return {name: [level for level in levels if level != _UNSEEN] for name, levels in found.items()}


def _column_transformers(
    estimator: object, features: Mapping[str, Feature]
) -> list[tuple[object, list[str]]]:
    """Every (fitted transformer, the feature names it reads) inside the model's ColumnTransformers."""
    return [
        (fitted, _column_names(selection, features, name))
        for part in _nested(estimator)
        if isinstance(part, ColumnTransformer)
        for name, fitted, selection in part.transformers_
        if not isinstance(fitted, str)
    ]


def _nested(estimator: object) -> Iterator[object]:
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
        yield from _nested(part)


def _compile(
    estimator: object, features: Mapping[str, Feature], coders: Coders, threads: RowThreads
) -> Predict:
    if isinstance(estimator, TransformedTargetRegressor):
        return _target_transform(estimator, _compile(estimator.regressor_, features, coders, threads))
    if isinstance(estimator, VotingRegressor):
        members = [_compile(member, features, coders, threads) for member in estimator.estimators_]
        weights = estimator._weights_not_none

        def vote(columns: Columns, rows: int) -> np.ndarray:
            # VotingRegressor.predict, verbatim.
            return np.average(np.asarray([m(columns, rows) for m in members]).T, axis=1, weights=weights)

        return vote
    if isinstance(estimator, Pipeline):
        return _pipeline(estimator, features, coders, threads)
    raise UnsupportedModelError(f"{type(estimator).__name__} at the top of a model")


def _target_transform(estimator: TransformedTargetRegressor, inner: Predict) -> Predict:
    transformer, training_dim = estimator.transformer_, estimator._training_dim
    inverse = transformer.inverse_transform
    if type(transformer) is FunctionTransformer and transformer.inverse_func is not None:
        # FunctionTransformer.inverse_transform minus check_array, which would raise on a non-finite
        # prediction: the engine reports those per property instead (app._run).
        function, kw_args = transformer.inverse_func, transformer.inv_kw_args or {}
        inverse = lambda values: function(values, **kw_args)  # noqa: E731

    def predict(columns: Columns, rows: int) -> np.ndarray:
        # TransformedTargetRegressor.predict, verbatim.
        pred = inner(columns, rows)
        pred_trans = inverse(pred.reshape(-1, 1) if pred.ndim == 1 else pred)
        if training_dim == 1 and pred_trans.ndim == 2 and pred_trans.shape[1] == 1:
            pred_trans = pred_trans.squeeze(axis=1)
        return pred_trans

    return predict


def _pipeline(
    pipeline: Pipeline, features: Mapping[str, Feature], coders: Coders, threads: RowThreads
) -> Predict:
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    if len(steps) != 2 or not isinstance(steps[0], ColumnTransformer):
        raise UnsupportedModelError("a pipeline other than ColumnTransformer -> regressor")
    columns_of = _column_transformer(steps[0], features, coders)
    regressor = steps[1]
    if isinstance(regressor, HistGradientBoostingRegressor):
        trees = _Trees(regressor, columns_of, threads)

        def boosted(columns: Columns, rows: int) -> np.ndarray:
            return trees.predict(columns_of(columns, rows))

        return boosted
    if not hasattr(regressor, "predict") or hasattr(regressor, "feature_names_in_"):
        raise UnsupportedModelError(f"{type(regressor).__name__} after a ColumnTransformer")
    if _plain_linear(regressor):
        coef, intercept = regressor.coef_, regressor.intercept_

        def linear(columns: Columns, rows: int) -> np.ndarray:
            # LinearModel._decision_function on a dense float64 array, minus its input validation.
            return columns_of(columns, rows) @ coef + intercept

        return linear

    def predict(columns: Columns, rows: int) -> np.ndarray:
        return regressor.predict(columns_of(columns, rows))

    return predict


def _plain_linear(regressor: object) -> bool:
    """A linear model whose predict is LinearModel's own ``X @ coef_ + intercept_`` with one target."""
    return (
        isinstance(regressor, LinearModel)
        and type(regressor).predict is LinearModel.predict
        and type(regressor)._decision_function is LinearModel._decision_function
        and np.ndim(regressor.coef_) == 1
    )


# Provenance of each output column: the finite set of values a tabulated column can take, or None.
Provenance = list[np.ndarray | None]


class _OuterTransform:
    """A fitted ColumnTransformer's dense output: its blocks side by side (ColumnTransformer._hstack)."""

    def __init__(self, blocks: list[tuple[Callable[[Columns, int], np.ndarray], _Tabulated | None]]) -> None:
        self.blocks = blocks
        self.provenance: Provenance = []
        self._owner: list[tuple[_Tabulated, int] | None] = []
        for block, tabulated in blocks:
            if tabulated is not None:
                self.provenance += tabulated.provenance()
                self._owner += [(tabulated, column) for column in range(tabulated.width)]
            else:
                width = block(_ONE_ROW_PROBE, 1).shape[1]
                self.provenance += [None] * width
                self._owner += [None] * width

    def __call__(self, columns: Columns, rows: int) -> np.ndarray:
        return np.hstack([block(columns, rows) for block, _ in self.blocks])

    def remap(self, column: int, mapping: Callable[[np.ndarray], np.ndarray]) -> None:
        """Fold a value mapping that always follows this output column into its table."""
        owner = self._owner[column]
        if owner is None:
            raise UnsupportedModelError(f"output column {column} is not tabulated")
        owner[0].remap(owner[1], mapping)


class _ProbeColumns(dict):
    """One row of anything: 1.0 for every numeric column a block reads, to learn the block's width."""

    def __missing__(self, name: str) -> np.ndarray:
        return np.array([1.0])


_ONE_ROW_PROBE = _ProbeColumns()


def _column_transformer(
    transformer: ColumnTransformer, features: Mapping[str, Feature], coders: Coders
) -> _OuterTransform:
    if transformer.sparse_output_:
        raise UnsupportedModelError("sparse ColumnTransformer output")
    blocks: list[tuple[Callable[[Columns, int], np.ndarray], _Tabulated | None]] = []
    for name, fitted, selection in transformer.transformers_:
        if isinstance(fitted, str) and fitted == "drop":
            continue
        names = _column_names(selection, features, name)
        if not names:
            continue
        kinds = {features[column].kind for column in names}
        if kinds == {"categorical"} and _is_lookup(fitted):
            tabulated = _tabulate(fitted, names, coders)
            blocks.append((tabulated.block, tabulated))
        elif kinds == {"numeric"} and isinstance(fitted, str) and fitted == "passthrough":
            blocks.append((_passthrough_block(names), None))
        elif kinds == {"numeric"} and not isinstance(fitted, str):
            blocks.append((_numeric_block(fitted, names), None))
        else:
            raise UnsupportedModelError(
                f"transformer {name!r} ({type(fitted).__name__}) on {sorted(kinds)} columns"
            )
    return _OuterTransform(blocks)


def _column_names(selection: object, features: Mapping[str, Feature], name: str) -> list[str]:
    if isinstance(selection, str):
        selection = [selection]
    names = list(selection) if isinstance(selection, Sequence | np.ndarray) else None
    if names is None or not all(isinstance(column, str) and column in features for column in names):
        raise UnsupportedModelError(f"transformer {name!r} selects columns other than by feature name")
    return names


def _is_lookup(transformer: object) -> bool:
    if isinstance(transformer, Pipeline):
        return all(_is_lookup(step) for _, step in transformer.steps if step not in (None, "passthrough"))
    return isinstance(transformer, _LOOKUP_TRANSFORMERS)


class _Tabulated:
    """A categorical transformer as one lookup: each output column's value for each level code of the
    single input column that determines it (or one value, for a column no input moves)."""

    def __init__(
        self, names: list[str], tables: list[np.ndarray], targets: list[np.ndarray], constant: np.ndarray
    ):
        """``tables[j]`` holds, by level code of input ``names[j]``, the values of the output columns
        ``targets[j]``; ``constant`` the values of every output column for the base row."""
        self.names = names
        self.width = len(constant)
        source = np.full(self.width, len(names))  # the input column setting each output; len(names): none
        pieces: list[np.ndarray] = [constant[[c]] for c in range(self.width)]
        for j, (table, target) in enumerate(zip(tables, targets, strict=True)):
            source[target] = j
            for position, column in enumerate(target):
                pieces[column] = table[:, position]
        self.source = source
        self.start = np.cumsum([0] + [len(piece) for piece in pieces[:-1]]).astype(np.intp)
        self.stop = self.start + [len(piece) for piece in pieces]
        self.values = np.concatenate(pieces).astype(np.float64)

    def block(self, columns: Columns, rows: int) -> np.ndarray:
        codes = np.zeros((rows, len(self.names) + 1), dtype=np.intp)  # the last: the constants' code 0
        for j, name in enumerate(self.names):
            codes[:, j] = columns[name]
        return self.values[self.start + codes[:, self.source]]

    def provenance(self) -> Provenance:
        return [np.unique(self.values[a:b]) for a, b in zip(self.start, self.stop, strict=True)]

    def remap(self, column: int, mapping: Callable[[np.ndarray], np.ndarray]) -> None:
        part = slice(self.start[column], self.stop[column])
        self.values[part] = mapping(self.values[part])


def _tabulate(transformer: object, names: list[str], coders: Coders) -> _Tabulated:
    """Run the fitted transformer once over probe rows that vary one column at a time through all its
    levels, then missing, then unseen (the order of the level codes), the others held at a base row; read
    off which output columns each input column determines. An output column moved by two input columns
    is not tabulable."""
    levels = [coders[name].levels for name in names]
    base = {name: (values[0] if values else np.nan) for name, values in zip(names, levels, strict=True)}
    segments, rows = [], [dict(base)]
    for name, values in zip(names, levels, strict=True):
        segments.append(len(rows))
        rows += [{**base, name: value} for value in [*values, np.nan, _UNSEEN]]
    probe = pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=object) for name in names})
    try:
        output = np.asarray(transformer.transform(probe))
    except (ValueError, TypeError) as error:  # e.g. handle_unknown="error": unseen levels raise
        raise UnsupportedModelError(f"categorical transformer cannot be tabulated: {error}") from error
    if output.dtype == object or output.ndim != 2:
        raise UnsupportedModelError("categorical transformer output is not numeric")
    output = output.astype(np.float64)
    owner = np.full(output.shape[1], -1)
    tables, targets = [], []
    for position, (start, values) in enumerate(zip(segments, levels, strict=True)):
        segment = output[start : start + len(values) + 2]
        moved = np.flatnonzero(
            ((segment != output[0]) & ~(np.isnan(segment) & np.isnan(output[0]))).any(axis=0)
        )
        if (owner[moved] >= 0).any():
            raise UnsupportedModelError("categorical transformer mixes columns")
        owner[moved] = position
        tables.append(np.ascontiguousarray(segment[:, moved]))
        targets.append(moved)
    return _Tabulated(names, tables, targets, output[0].copy())


def _passthrough_block(names: list[str]) -> Callable[[Columns, int], np.ndarray]:
    def block(columns: Columns, rows: int) -> np.ndarray:
        return np.column_stack([columns[name] for name in names])

    return block


def _numeric_block(fitted: object, names: list[str]) -> Callable[[Columns, int], np.ndarray]:
    steps = fitted.steps if isinstance(fitted, Pipeline) else [("", fitted)]
    transforms = [_numeric_step(step) for _, step in steps if step not in (None, "passthrough")]

    def block(columns: Columns, rows: int) -> np.ndarray:
        values = np.column_stack([columns[name] for name in names])
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
    expm1, divide on the selected values), done for all columns in four masked passes instead of a
    dozen numpy calls per column: a single property costs microseconds instead of a third of a millisecond.
    """
    eps = np.finfo(np.float64).eps
    zero = np.abs(lambdas) < eps  # columns whose positive part is log1p
    two = np.abs(lambdas - 2) <= eps  # columns whose negative part is -log1p(-x)

    def transform(values: np.ndarray) -> np.ndarray:
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


class _Trees:
    """HistGradientBoostingRegressor.predict from the outer transformer's output, without its overheads."""

    def __init__(
        self, model: HistGradientBoostingRegressor, outer: _OuterTransform, threads: RowThreads
    ) -> None:
        if model.n_trees_per_iteration_ != 1 or getattr(model, "_in_fit", False):
            raise UnsupportedModelError("boosting with several trees per iteration")
        self.link = model._loss.link
        self.threads = threads
        self.order = self._fold_internal_encoder(model, outer)
        known_bitsets, known_row_of_feature = model._bin_mapper.make_known_categories_bitsets()
        self.forest = FlatForest.from_predictors(
            [iteration[0] for iteration in model._predictors],
            known_bitsets,
            known_row_of_feature,
            model._baseline_prediction.ravel()[0],
        )

    def predict(self, outer: np.ndarray) -> np.ndarray:
        data = outer if self.order is None else outer[:, self.order]
        return self.link.inverse(self.forest.raw_predict(data, self.threads))

    @staticmethod
    def _fold_internal_encoder(
        model: HistGradientBoostingRegressor, outer: _OuterTransform
    ) -> list[int] | None:
        """The model's own ColumnTransformer (categorical codes first, then numbers), folded into the
        outer tables: each categorical input's table is mapped to the internal codes once, at load, so a
        request only reorders columns. Returns that order (None: no internal encoder)."""
        preprocessor = model._preprocessor
        if preprocessor is None:
            return None
        provenance = outer.provenance
        parts = list(preprocessor.transformers_)
        extra = [part for part in parts[2:] if part[1] != "drop" and _indices(part[2], len(provenance))]
        if [name for name, _, _ in parts[:2]] != ["encoder", "numerical"] or extra:
            raise UnsupportedModelError("unexpected internal encoder of the boosting model")
        encoder = parts[0][1]
        categorical = _indices(parts[0][2], len(provenance))
        numerical = _indices(parts[1][2], len(provenance))
        if any(provenance[i] is None for i in categorical):
            raise UnsupportedModelError("a categorical input of the boosting model is not tabulated")
        if not _passes_numbers_through(parts[1][1]) or len(set(categorical + numerical)) != len(
            categorical + numerical
        ):
            raise UnsupportedModelError("the internal encoder transforms numbers or reads a column twice")
        candidates = [np.asarray(provenance[i], dtype=np.float64) for i in categorical]
        height = max(len(values) for values in candidates)
        probe = np.column_stack([np.resize(values, height) for values in candidates])
        mapped = np.asarray(encoder.transform(probe), dtype=np.float64)
        for j, (column, values) in enumerate(zip(categorical, candidates, strict=True)):
            outer.remap(column, _ExactMap(values, mapped[: len(values), j]).apply)
        return categorical + numerical


def _passes_numbers_through(transformer: object) -> bool:
    """ "passthrough", or what scikit-learn uses instead: check_array as a float64 FunctionTransformer."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    func = getattr(transformer, "func", None)
    return (
        type(transformer) is FunctionTransformer
        and isinstance(func, functools.partial)
        and func.func is check_array
        and func.keywords.get("dtype") in ([np.float64], np.float64)
    )


def _indices(selection: object, width: int) -> list[int]:
    array = np.asarray(selection)
    if array.size == 0:
        return []
    if array.dtype == bool:
        return np.flatnonzero(array).tolist()
    if np.issubdtype(array.dtype, np.integer):
        return array.astype(int).tolist()
    raise UnsupportedModelError("internal encoder selects columns by name")


class _ExactMap:
    """values[i] -> codes[i] for a column whose every value is one of ``values`` (by construction)."""

    def __init__(self, values: np.ndarray, codes: np.ndarray) -> None:
        order = np.argsort(values)  # NaN sorts last
        self.values, self.codes = values[order], codes[order]
        nan_positions = np.flatnonzero(np.isnan(self.values))
        self.nan_code = self.codes[nan_positions[0]] if nan_positions.size else None
        self.last = len(self.values) - 1

    def apply(self, column: np.ndarray) -> np.ndarray:
        result = self.codes[np.minimum(np.searchsorted(self.values, column), self.last)]
        if self.nan_code is not None:
            result = np.where(np.isnan(column), self.nan_code, result)
        return result


def verify(
    compiled: Predict,
    pipeline: object,
    card: ModelCard,
    frame_of: Callable[[Columns], pd.DataFrame],
    seed: int = 0,
) -> str | None:
    """None when ``compiled`` equals ``pipeline.predict`` bit for bit on probe rows; else what differed.

    Probes a batch large enough to be shared among the tree threads, and single rows, since a lone
    request and a large batch take different paths through the BLAS kernels.
    """
    share = RowThreads.MIN_SHARE
    rows = 2 * share + 3
    columns = probe_columns(card, pipeline, rows=rows, seed=seed)
    with np.errstate(all="ignore"):
        for start, stop in ((0, rows), (0, 1), (share, share + 1), (rows - 2, rows)):
            part = {name: values[start:stop] for name, values in columns.items()}
            expected = np.asarray(pipeline.predict(frame_of(part)), dtype=float)
            got = np.asarray(compiled(part, stop - start), dtype=float)
            if not np.array_equal(expected, got, equal_nan=True):
                worst = np.nanmax(np.abs(expected - got))
                return f"rows {start}-{stop - 1} of the probe differ by up to {worst:.3g}"
    return None


def probe_columns(card: ModelCard, pipeline: object, rows: int, seed: int) -> dict[str, np.ndarray]:
    """Synthetic rows exercising every kind of value: known, unseen and missing levels, numbers, NaN.

    Numbers are drawn around the medians the pipeline's imputers learnt, so the probe lands in the range
    the trees split on rather than far outside it.
    """
    generator = np.random.default_rng(seed)
    centres = _imputer_medians(pipeline)
    columns: dict[str, np.ndarray] = {}
    for feature in card.features:
        if feature.kind == "numeric":
            centre = centres.get(feature.name, 1.0) or 1.0
            values = np.round(centre * generator.uniform(0.3, 1.7, rows), generator.integers(0, 4))
            values[generator.random(rows) < 0.15] = np.nan
            columns[feature.name] = values.astype(np.float64)
        else:
            levels = list(feature.categories) or ["x"]
            picked = np.array([levels[i] for i in generator.integers(0, len(levels), rows)], dtype=object)
            draw = generator.random(rows)
            picked[draw < 0.1] = np.nan
            picked[(draw >= 0.1) & (draw < 0.15)] = UNSEEN_LEVEL
            _plant_each_kind(picked, levels[0], generator)
            columns[feature.name] = picked
    return columns


UNSEEN_LEVEL = "level never seen in training"


def _plant_each_kind(picked: np.ndarray, known: str, generator: np.random.Generator) -> None:
    """Put a known level, a missing value and an unseen level at distinct random rows.

    Random draws alone leave some columns of a short probe without an unseen (5 %) or missing (10 %)
    level, and then the compiled category lookups for that column are never checked against the pipeline.
    """
    kinds = (known, np.nan, UNSEEN_LEVEL)[: len(picked)]
    for row, value in zip(generator.choice(len(picked), size=len(kinds), replace=False), kinds, strict=True):
        picked[row] = value


def _imputer_medians(estimator: object) -> dict[str, float]:
    """Feature name -> value a fitted SimpleImputer fills in, for every imputer fitted on named columns."""
    found: dict[str, float] = {}
    for part in _nested(estimator):
        if isinstance(part, SimpleImputer) and hasattr(part, "feature_names_in_"):
            for name, value in zip(part.feature_names_in_, part.statistics_, strict=False):
                if isinstance(value, int | float | np.number) and np.isfinite(value):
                    found[str(name)] = float(value)
    return found
