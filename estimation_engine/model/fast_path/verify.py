"""The check that lets a compiled model serve: bit-for-bit equality with ``pipeline.predict`` on probe rows
of every kind (known, unseen and missing levels, numbers, NaN), run on every load rather than trusted
across scikit-learn versions, since the fast path reads private scikit-learn members."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from estimation_engine.model.fast_path import Columns, Predict
from estimation_engine.model.fast_path.compile import nested_estimators
from estimation_engine.model.fast_path.tree_kernel import RowThreads
from model_contract.artifact import ModelCard


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
    for part in nested_estimators(estimator):
        if isinstance(part, SimpleImputer) and hasattr(part, "feature_names_in_"):
            for name, value in zip(part.feature_names_in_, part.statistics_, strict=False):
                if isinstance(value, int | float | np.number) and np.isfinite(value):
                    found[str(name)] = float(value)
    return found
