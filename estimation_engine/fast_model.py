"""A faster evaluation of the fitted pipeline that gives the same numbers, verified before it is used.

Where the time goes in ``pipeline.predict`` for a few rows of the production model (measured, see
benchmarks/README.md): not in arithmetic but in per-call Python work — column-by-column validation and
encoding of the DataFrame in every ColumnTransformer and encoder, the gradient boosting model's own
internal encoder, and a Python loop over the boosting iterations (400 in the shipped config) each entering OpenMP. This module
evaluates the same fitted objects with far fewer calls:

- categorical transformers (encoders and imputers, which map each value independently) are tabulated at
  load time by running the fitted transformer itself on every known level, a missing value and an unseen
  level; a request then costs one dictionary lookup per value;
- numeric transformers apply the fitted parameters with the same numpy/scipy calls as their ``transform``
  minus the input validation (imputers' fill values, derived sums/differences, Yeo-Johnson power
  transforms and standardisation); any other numeric transformer, and linear regressors, are the fitted
  objects themselves called on numpy blocks (a copy that forgets the column names it was fitted with);
- the gradient-boosted trees of a small batch are walked for all trees at once with numpy, following
  scikit-learn's own traversal rules, and their leaf values are summed in iteration order exactly like
  scikit-learn; larger batches go through scikit-learn's own compiled per-tree predictor.

Anything else is not compiled (UnsupportedModelError) and the engine uses ``pipeline.predict``. A compiled
model is only used after ``verify`` found it bit-for-bit equal to the pipeline on probe rows; it reaches
into two private scikit-learn members (the boosting model's internal encoder and predictors), which is why
that check runs on every load rather than being trusted across scikit-learn versions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, VotingRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    PowerTransformer,
    StandardScaler,
)
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

from training.artifact import Feature, ModelCard

Columns = Mapping[str, np.ndarray]
Predict = Callable[[Columns, int], np.ndarray]

# Up to this many rows the trees are walked all at once with numpy; above it scikit-learn's per-tree
# compiled predictor is cheaper.
SMALL_BATCH = 32
_UNSEEN = "\x00unseen level\x00"
_LOOKUP_TRANSFORMERS = (OrdinalEncoder, OneHotEncoder, SimpleImputer)


class UnsupportedModelError(Exception):
    """The pipeline holds something this module does not know how to evaluate exactly."""


def compile_pipeline(pipeline: object, card: ModelCard) -> Predict:
    """A function (columns, rows) -> predictions equal to ``pipeline.predict`` on the same frame."""
    return _compile(pipeline, {feature.name: feature for feature in card.features})


def _compile(estimator: object, features: Mapping[str, Feature]) -> Predict:
    if isinstance(estimator, TransformedTargetRegressor):
        return _target_transform(estimator, _compile(estimator.regressor_, features))
    if isinstance(estimator, VotingRegressor):
        members = [_compile(member, features) for member in estimator.estimators_]
        weights = estimator._weights_not_none

        def vote(columns: Columns, rows: int) -> np.ndarray:
            # VotingRegressor.predict, verbatim.
            return np.average(np.asarray([m(columns, rows) for m in members]).T, axis=1, weights=weights)

        return vote
    if isinstance(estimator, Pipeline):
        return _pipeline(estimator, features)
    raise UnsupportedModelError(f"{type(estimator).__name__} at the top of a model")


def _target_transform(estimator: TransformedTargetRegressor, inner: Predict) -> Predict:
    transformer, training_dim = estimator.transformer_, estimator._training_dim

    def predict(columns: Columns, rows: int) -> np.ndarray:
        # TransformedTargetRegressor.predict, verbatim.
        pred = inner(columns, rows)
        pred_trans = transformer.inverse_transform(pred.reshape(-1, 1) if pred.ndim == 1 else pred)
        if training_dim == 1 and pred_trans.ndim == 2 and pred_trans.shape[1] == 1:
            pred_trans = pred_trans.squeeze(axis=1)
        return pred_trans

    return predict


def _pipeline(pipeline: Pipeline, features: Mapping[str, Feature]) -> Predict:
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    if len(steps) != 2 or not isinstance(steps[0], ColumnTransformer):
        raise UnsupportedModelError("a pipeline other than ColumnTransformer -> regressor")
    columns_of, provenance = _column_transformer(steps[0], features)
    regressor = steps[1]
    if isinstance(regressor, HistGradientBoostingRegressor):
        trees = _Trees(regressor, provenance)

        def boosted(columns: Columns, rows: int) -> np.ndarray:
            return trees.predict(columns_of(columns, rows))

        return boosted
    if not hasattr(regressor, "predict") or hasattr(regressor, "feature_names_in_"):
        raise UnsupportedModelError(f"{type(regressor).__name__} after a ColumnTransformer")

    def predict(columns: Columns, rows: int) -> np.ndarray:
        return regressor.predict(columns_of(columns, rows))

    return predict


@dataclass(frozen=True)
class _Table:
    """A categorical column's transform, tabulated: level -> row of ``outputs``."""

    index: dict[str, int]
    outputs: np.ndarray  # (levels + 2, width): the levels, then missing, then unseen
    missing: int
    unseen: int

    def apply(self, values: np.ndarray) -> np.ndarray:
        lookup, missing, unseen = self.index.get, self.missing, self.unseen
        # A categorical value is a str or np.nan (see validation.py): a float means missing.
        rows = [lookup(v, missing if v.__class__ is float else unseen) for v in values.tolist()]
        return self.outputs[rows]


# Provenance of each output column: the finite set of values a tabulated column can take, or None.
Provenance = list[np.ndarray | None]


def _column_transformer(
    transformer: ColumnTransformer, features: Mapping[str, Feature]
) -> tuple[Callable[[Columns, int], np.ndarray], Provenance]:
    if transformer.sparse_output_:
        raise UnsupportedModelError("sparse ColumnTransformer output")
    blocks: list[Callable[[Columns, int], np.ndarray]] = []
    provenance: Provenance = []
    for name, fitted, selection in transformer.transformers_:
        if isinstance(fitted, str) and fitted == "drop":
            continue
        names = _column_names(selection, features, name)
        if not names:
            continue
        kinds = {features[column].kind for column in names}
        if kinds == {"categorical"} and _is_lookup(fitted):
            tabulated = _tabulate(fitted, names, features)
            blocks.append(tabulated.block)
            provenance += tabulated.provenance()
        elif kinds == {"numeric"} and isinstance(fitted, str) and fitted == "passthrough":
            blocks.append(_passthrough_block(names))
            provenance += [None] * len(names)
        elif kinds == {"numeric"} and not isinstance(fitted, str):
            block = _numeric_block(fitted, names)
            blocks.append(block)
            provenance += [None] * block(_probe_numeric(names), 1).shape[1]
        else:
            raise UnsupportedModelError(
                f"transformer {name!r} ({type(fitted).__name__}) on {sorted(kinds)} columns"
            )

    def transform(columns: Columns, rows: int) -> np.ndarray:
        # ColumnTransformer._hstack for dense outputs.
        return np.hstack([block(columns, rows) for block in blocks])

    return transform, provenance


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


@dataclass(frozen=True)
class _Tabulated:
    """A categorical transformer as per-column tables: which output columns each input column sets."""

    names: list[str]
    tables: list[_Table]
    targets: list[np.ndarray]  # output column indices each input column determines
    constant: np.ndarray  # output values that depend on no input column (the rest is overwritten)

    def block(self, columns: Columns, rows: int) -> np.ndarray:
        output = np.tile(self.constant, (rows, 1))
        for name, table, target in zip(self.names, self.tables, self.targets, strict=True):
            output[:, target] = table.apply(columns[name])
        return output

    def provenance(self) -> Provenance:
        found: Provenance = [np.unique(self.constant[[c]]) for c in range(len(self.constant))]
        for table, target in zip(self.tables, self.targets, strict=True):
            for position, column in enumerate(target):
                found[column] = np.unique(table.outputs[:, position])
        return found


def _tabulate(transformer: object, names: list[str], features: Mapping[str, Feature]) -> _Tabulated:
    """Run the fitted transformer once over probe rows that vary one column at a time through all its
    levels (plus missing and unseen), the others held at a base row; read off which output columns each
    input column determines. An output column moved by two input columns is not tabulable."""
    levels = [_levels(transformer, position, features[name]) for position, name in enumerate(names)]
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
        count = len(values)
        tables.append(
            _Table(
                {v: i for i, v in enumerate(values)},
                np.ascontiguousarray(segment[:, moved]),
                count,
                count + 1,
            )
        )
        targets.append(moved)
    return _Tabulated(names, tables, targets, output[0].copy())


def _levels(transformer: object, position: int, feature: Feature) -> list[str]:
    """The levels to tabulate: those of the card and any string level the fitted encoders know."""
    found = dict.fromkeys(feature.categories)
    steps = transformer.steps if isinstance(transformer, Pipeline) else [("", transformer)]
    for _, step in steps:
        known = getattr(step, "categories_", None)
        if known is not None and position < len(known):
            found.update((category, None) for category in known[position] if isinstance(category, str))
    return [level for level in found if level != _UNSEEN]


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
        lambdas = step.lambdas_
        scale = _standardize(step._scaler) if step.standardize else (lambda values: values)

        def power(values: np.ndarray) -> np.ndarray:
            values = values.copy()
            with np.errstate(invalid="ignore"):
                for i, lmbda in enumerate(lambdas):
                    values[:, i] = _yeo_johnson(values[:, i], lmbda)
            return scale(values)

        return power
    if type(step) is StandardScaler:
        return _standardize(step)
    unnamed = _forget_feature_names(step)
    return unnamed.transform


def _yeo_johnson(x: np.ndarray, lmbda: float) -> np.ndarray:
    """scipy.stats.yeojohnson(x, lmbda) for a float64 column: the same operations without its dispatch."""
    eps = np.finfo(np.float64).eps
    out = np.zeros_like(x, dtype=np.float64)
    pos = x >= 0
    if abs(lmbda) < eps:
        out[pos] = np.log1p(x[pos])
    else:
        out[pos] = np.expm1(lmbda * np.log1p(x[pos])) / lmbda
    if abs(lmbda - 2) > eps:
        out[~pos] = -np.expm1((2 - lmbda) * np.log1p(-x[~pos])) / (2 - lmbda)
    else:
        out[~pos] = -np.log1p(-x[~pos])
    return out


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


def _probe_numeric(names: list[str]) -> dict[str, np.ndarray]:
    return {name: np.array([1.0]) for name in names}


class _Trees:
    """HistGradientBoostingRegressor.predict from the outer transformer's output, without its overheads."""

    def __init__(self, model: HistGradientBoostingRegressor, provenance: Provenance) -> None:
        if model.n_trees_per_iteration_ != 1 or getattr(model, "_in_fit", False):
            raise UnsupportedModelError("boosting with several trees per iteration")
        self.model = model
        self.encode = self._internal_encoder(model, provenance)
        self.known_cat_bitsets, self.f_idx_map = model._bin_mapper.make_known_categories_bitsets()
        self._flatten([iteration[0] for iteration in model._predictors])

    def predict(self, outer: np.ndarray) -> np.ndarray:
        data = self.encode(outer)
        if data.shape[0] <= SMALL_BATCH:
            raw = self._walk_all_trees(data)
        else:
            # HistGradientBoostingRegressor._raw_predict, after its internal encoder.
            raw_predictions = np.zeros(
                shape=(data.shape[0], 1), dtype=self.model._baseline_prediction.dtype, order="F"
            )
            raw_predictions += self.model._baseline_prediction
            # As _raw_predict does: the calling thread's OpenMP setting (the scorer limits it).
            threads = _openmp_effective_n_threads()
            self.model._predict_iterations(data, self.model._predictors, raw_predictions, False, threads)
            raw = raw_predictions.ravel()
        return self.model._loss.link.inverse(raw)

    @staticmethod
    def _internal_encoder(model: HistGradientBoostingRegressor, provenance: Provenance):
        """The model's own ColumnTransformer (categorical codes first, then numbers), tabulated."""
        preprocessor = model._preprocessor
        if preprocessor is None:
            return lambda outer: np.ascontiguousarray(outer, dtype=np.float64)
        parts = list(preprocessor.transformers_)
        extra = [part for part in parts[2:] if part[1] != "drop" and _indices(part[2], len(provenance))]
        if [name for name, _, _ in parts[:2]] != ["encoder", "numerical"] or extra:
            raise UnsupportedModelError("unexpected internal encoder of the boosting model")
        encoder = parts[0][1]
        categorical = _indices(parts[0][2], len(provenance))
        numerical = _indices(parts[1][2], len(provenance))
        if any(provenance[i] is None for i in categorical):
            raise UnsupportedModelError("a categorical input of the boosting model is not tabulated")
        candidates = [np.asarray(provenance[i], dtype=np.float64) for i in categorical]
        height = max(len(values) for values in candidates)
        probe = np.column_stack([np.resize(values, height) for values in candidates])
        mapped = np.asarray(encoder.transform(probe), dtype=np.float64)
        lookups = [_ExactMap(values, mapped[: len(values), j]) for j, values in enumerate(candidates)]

        def encode(outer: np.ndarray) -> np.ndarray:
            data = np.empty((outer.shape[0], len(categorical) + len(numerical)), dtype=np.float64)
            for j, (column, lookup) in enumerate(zip(categorical, lookups, strict=True)):
                data[:, j] = lookup.apply(outer[:, column])
            data[:, len(categorical) :] = outer[:, numerical]
            return data

        return encode

    def _flatten(self, predictors: list) -> None:
        """All trees as one node table with global child indices, for walking them together."""
        offsets, bitset_offsets, tables, bitsets = [], [], [], []
        node_count = bitset_count = 0
        for predictor in predictors:
            offsets.append(node_count)
            bitset_offsets.append(bitset_count)
            tables.append(predictor.nodes)
            bitsets.append(predictor.raw_left_cat_bitsets)
            node_count += len(predictor.nodes)
            bitset_count += len(predictor.raw_left_cat_bitsets)
        nodes = np.concatenate(tables)
        node_offset = np.repeat(np.asarray(offsets, dtype=np.int64), [len(t) for t in tables])
        bitset_offset = np.repeat(np.asarray(bitset_offsets, dtype=np.int64), [len(t) for t in tables])
        self.roots = np.asarray(offsets, dtype=np.int64)
        self.value = nodes["value"].astype(np.float64)
        self.feature = nodes["feature_idx"].astype(np.int64)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.is_categorical = nodes["is_categorical"].astype(bool)
        self.left = nodes["left"].astype(np.int64) + node_offset
        self.right = nodes["right"].astype(np.int64) + node_offset
        self.bitset_row = nodes["bitset_idx"].astype(np.int64) + bitset_offset
        stacked = [b for b in bitsets if len(b)]
        self.left_bitsets = np.concatenate(stacked) if stacked else np.zeros((1, 8), dtype=np.uint32)
        self.bitset_row = np.minimum(self.bitset_row, len(self.left_bitsets) - 1)
        self.any_categorical = bool(self.is_categorical.any())
        if self.any_categorical:  # each node's row in the known-categories bitsets (its feature's)
            self.known_row = self.f_idx_map[self.feature].astype(np.int64)
            self.known_row[~self.is_categorical] = 0

    def _walk_all_trees(self, data: np.ndarray) -> np.ndarray:
        """_predict_one_from_raw_data of scikit-learn, for every (row, tree) pair at once.

        One numpy step per tree level moves every pair not yet at a leaf to its child; pairs that reached
        a leaf drop out, so the work follows the actual path lengths.
        """
        count, trees = data.shape[0], len(self.roots)
        current = np.tile(self.roots, count)
        row = np.repeat(np.arange(count), trees)
        active = np.flatnonzero(~self.is_leaf[current])
        while active.size:
            node = current[active]
            value = data[row[active], self.feature[node]]
            go_left = value <= self.threshold[node]
            missing = np.isnan(value)
            if self.any_categorical:
                self._categorical_left(node, value, missing, go_left)
            go_left = np.where(missing, self.missing_left[node], go_left)
            child = np.where(go_left, self.left[node], self.right[node])
            current[active] = child
            active = active[~self.is_leaf[child]]
        leaves = self.value[current].reshape(count, trees)
        # Summed in iteration order from the baseline, as raw_predictions[:, k] += predict(X) does.
        start = np.full((count, 1), self.model._baseline_prediction.ravel()[0], dtype=np.float64)
        return np.cumsum(np.hstack([start, leaves]), axis=1)[:, -1]

    def _categorical_left(
        self, node: np.ndarray, value: np.ndarray, missing: np.ndarray, go_left: np.ndarray
    ) -> None:
        """Overwrite ``go_left`` where the split is categorical, as scikit-learn's predictor decides it."""
        where = np.flatnonzero(self.is_categorical[node] & ~missing)
        if not where.size:
            return
        node, value = node[where], value[where]
        missing_left = self.missing_left[node]
        negative = value < 0  # out of range: treated as missing
        code = np.where(negative, 0, value).astype(np.int64).astype(np.uint8).astype(np.int64)
        word, bit = code >> 5, code & 31
        in_left = (self.left_bitsets[self.bitset_row[node], word] >> bit) & 1
        in_known = (self.known_cat_bitsets[self.known_row[node], word] >> bit) & 1
        decided = np.where(in_left == 1, True, np.where(in_known == 1, False, missing_left))
        go_left[where] = np.where(negative, missing_left, decided)


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

    Probes both tree paths: a batch over SMALL_BATCH rows (scikit-learn's per-tree predictor) and batches
    at or under it (all trees walked at once), including single rows.
    """
    columns = probe_columns(card, pipeline, rows=2 * SMALL_BATCH, seed=seed)
    with np.errstate(all="ignore"):
        for start, stop in ((0, 2 * SMALL_BATCH), (0, SMALL_BATCH), (SMALL_BATCH, SMALL_BATCH + 1)):
            part = {name: values[start:stop] for name, values in columns.items()}
            expected = np.asarray(pipeline.predict(frame_of(part)), dtype=float)
            got = np.asarray(compiled(part, stop - start), dtype=float)
            if not np.array_equal(expected, got, equal_nan=True):
                return f"rows {start}-{stop - 1} of the probe differ by up to {np.nanmax(np.abs(expected - got)):.3g}"
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
    children: list = []
    if isinstance(estimator, SimpleImputer) and hasattr(estimator, "feature_names_in_"):
        for name, value in zip(estimator.feature_names_in_, estimator.statistics_, strict=False):
            if isinstance(value, int | float | np.number) and np.isfinite(value):
                found[str(name)] = float(value)
    if isinstance(estimator, TransformedTargetRegressor):
        children = [estimator.regressor_]
    elif isinstance(estimator, VotingRegressor):
        children = list(estimator.estimators_)
    elif isinstance(estimator, Pipeline):
        children = [step for _, step in estimator.steps]
    elif isinstance(estimator, ColumnTransformer):
        children = [fitted for _, fitted, _ in estimator.transformers_]
    for child in children:
        found.update(_imputer_medians(child))
    return found
