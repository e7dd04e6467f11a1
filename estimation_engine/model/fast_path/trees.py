"""The boosting model's predict from the outer transformer's output, without its per-call overheads: its
internal encoder folded into the outer tables at load, its trees walked by tree_kernel.py."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_array

from estimation_engine.model.fast_path import UnsupportedModelError
from estimation_engine.model.fast_path.tabulate import OuterTransform
from estimation_engine.model.fast_path.tree_kernel import FlatForest, RowThreads


class BoostedTrees:
    """HistGradientBoostingRegressor.predict from the outer transformer's output, without its overheads."""

    def __init__(
        self, model: HistGradientBoostingRegressor, outer: OuterTransform, threads: RowThreads
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
        model: HistGradientBoostingRegressor, outer: OuterTransform
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
