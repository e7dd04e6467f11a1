"""The gradient-boosted trees of a fitted HistGradientBoostingRegressor, walked by one compiled loop.

scikit-learn predicts tree by tree: one call per boosting iteration (400 in the shipped config), each
entering a parallel region, for every batch, even a single property. That per-tree overhead, not the tree
walking, is most of the time of a small request, and most of a large batch goes to re-reading each tree's
nodes for every row. Here all trees are flattened into one node table and a loop compiled with numba walks
them for a block of rows at a time: a block's rows stay in cache while every tree is walked for them.

The traversal is scikit-learn's own (``_predict_one_from_raw_data`` in its ``_predictor.pyx``): NaN goes
the way the split learnt for missing values; a categorical split sends a category in its left bitset left,
another category the model knows right, and an unknown or negative code the missing-value way; a numeric
split sends ``value <= threshold`` left. Leaf values are added to the baseline in iteration order, as
``raw_predictions += predictor.predict(X)`` does, so the sums are the same floating-point numbers. The
caller still checks that bit for bit on every load (fast_model.verify) before anything is served with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

LEAF, MISSING_LEFT, CATEGORICAL = 1, 2, 4
# Rows walked together through every tree: their feature values (a few KB) stay in the first-level cache
# while the trees stream past once per block instead of once per row.
ROW_BLOCK = 64


@dataclass(frozen=True)
class FlatForest:
    """All trees of one boosting model as one node table; children are indices into the whole table."""

    roots: np.ndarray  # int32 (trees,): each tree's root node
    feature: np.ndarray  # int32 (nodes,): the column a split reads
    threshold: np.ndarray  # float64 (nodes,): numeric splits send value <= threshold left
    flags: np.ndarray  # uint8 (nodes,): LEAF | MISSING_LEFT | CATEGORICAL
    left: np.ndarray  # int32 (nodes,)
    right: np.ndarray  # int32 (nodes,)
    value: np.ndarray  # float64 (nodes,): a leaf's contribution
    left_bitset: np.ndarray  # int32 (nodes,): a categorical split's row in left_bitsets
    left_bitsets: np.ndarray  # uint32 (splits, 8): categories sent left, one bit per code 0..255
    known_bitset: np.ndarray  # int32 (nodes,): a categorical split's feature's row in known_bitsets
    known_bitsets: np.ndarray  # uint32 (categorical features, 8): categories seen in training
    baseline: float

    @classmethod
    def from_predictors(
        cls,
        predictors: Sequence[object],
        known_bitsets: np.ndarray,
        known_row_of_feature: np.ndarray,
        baseline: float,
    ) -> FlatForest:
        """From scikit-learn's fitted ``TreePredictor`` objects (one per iteration) and its bin mapper's
        known-category bitsets (``make_known_categories_bitsets``)."""
        tables = [predictor.nodes for predictor in predictors]
        bitsets = [predictor.raw_left_cat_bitsets for predictor in predictors]
        sizes = np.array([len(table) for table in tables], dtype=np.int64)
        node_offset = np.repeat(np.cumsum(sizes) - sizes, sizes)
        bitset_sizes = np.array([len(b) for b in bitsets], dtype=np.int64)
        bitset_offset = np.repeat(np.cumsum(bitset_sizes) - bitset_sizes, sizes)
        nodes = np.concatenate(tables)
        categorical = nodes["is_categorical"].astype(bool)
        flags = (
            nodes["is_leaf"].astype(np.uint8) * LEAF
            | nodes["missing_go_to_left"].astype(np.uint8) * MISSING_LEFT
            | categorical.astype(np.uint8) * CATEGORICAL
        )
        feature = nodes["feature_idx"].astype(np.int32)
        stacked = [b for b in bitsets if len(b)]
        left_bitsets = np.concatenate(stacked) if stacked else np.zeros((1, 8), dtype=np.uint32)
        known = np.asarray(known_bitsets, dtype=np.uint32).reshape(-1, 8)
        return cls(
            roots=(np.cumsum(sizes) - sizes).astype(np.int32),
            feature=feature,
            threshold=nodes["num_threshold"].astype(np.float64),
            flags=flags.astype(np.uint8),
            left=(nodes["left"] + node_offset).astype(np.int32),
            right=(nodes["right"] + node_offset).astype(np.int32),
            value=nodes["value"].astype(np.float64),
            left_bitset=np.where(categorical, nodes["bitset_idx"] + bitset_offset, 0).astype(np.int32),
            left_bitsets=np.ascontiguousarray(left_bitsets, dtype=np.uint32),
            known_bitset=np.where(categorical, np.asarray(known_row_of_feature)[feature], 0).astype(np.int32),
            known_bitsets=np.ascontiguousarray(known if len(known) else np.zeros((1, 8), np.uint32)),
            baseline=float(baseline),
        )

    def raw_predict(self, data: np.ndarray, threads: RowThreads | None = None) -> np.ndarray:
        """The boosting model's raw prediction (before the loss's inverse link) for each row of ``data``;
        a large batch's rows shared out over ``threads``."""
        data = np.ascontiguousarray(data, dtype=np.float64)
        out = np.empty(data.shape[0], dtype=np.float64)
        if threads is None:
            self._walk_rows(data, out)
        else:
            threads.share(data.shape[0], lambda rows: self._walk_rows(data[rows], out[rows]))
        return out

    def _walk_rows(self, data: np.ndarray, out: np.ndarray) -> None:
        _walk(
            data,
            self.roots,
            self.feature,
            self.threshold,
            self.flags,
            self.left,
            self.right,
            self.value,
            self.left_bitset,
            self.left_bitsets,
            self.known_bitset,
            self.known_bitsets,
            self.baseline,
            out,
        )


class RowThreads:
    """Shares the rows of a large batch among threads; the calling thread walks the first share itself.

    Rows are independent, so each row's sum is the same whichever thread computes it. A share is at
    least MIN_SHARE rows: below that, handing work to another thread costs more than it saves.
    """

    MIN_SHARE = 2 * ROW_BLOCK

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="trees") if threads > 1 else None

    def share(self, rows: int, work: Callable[[slice], None]) -> None:
        count = min(self.threads, rows // self.MIN_SHARE)
        if self._pool is None or count < 2:
            work(slice(0, rows))
            return
        bounds = [round(rows * part / count / ROW_BLOCK) * ROW_BLOCK for part in range(count)] + [rows]
        shares = [slice(start, stop) for start, stop in itertools.pairwise(bounds)]
        others = [self._pool.submit(work, part) for part in shares[1:]]
        work(shares[0])
        for other in others:
            other.result()


def _compiled(**options: object) -> Callable:
    """numba.njit keeping the machine code on disk (NUMBA_CACHE_DIR, else beside this file) so a restart
    does not compile again; without a writable place for it, compiled afresh by each process instead."""

    def decorate(function: Callable) -> Callable:
        try:
            return numba.njit(cache=True, **options)(function)
        except RuntimeError:  # numba: "cannot cache function ...: no locator available"
            return numba.njit(cache=False, **options)(function)

    return decorate


@_compiled(nogil=True)
def _walk(  # pragma: no cover - compiled; equality with scikit-learn is tested and verified at load
    data, roots, feature, threshold, flags, left, right, value,
    left_bitset, left_bitsets, known_bitset, known_bitsets, baseline, out,
):  # fmt: skip
    rows = data.shape[0]
    for i in range(rows):
        out[i] = baseline
    for start in range(0, rows, ROW_BLOCK):
        stop = min(rows, start + ROW_BLOCK)
        for tree in range(roots.shape[0]):
            for i in range(start, stop):
                node = roots[tree]
                while not flags[node] & LEAF:
                    x = data[i, feature[node]]
                    if np.isnan(x):
                        go_left = flags[node] & MISSING_LEFT != 0
                    elif flags[node] & CATEGORICAL:
                        go_left = _categorical_left(
                            x, flags[node], left_bitsets[left_bitset[node]], known_bitsets[known_bitset[node]]
                        )
                    else:
                        go_left = x <= threshold[node]
                    node = left[node] if go_left else right[node]
                out[i] += value[node]


@_compiled(inline="always")
def _categorical_left(x, node_flags, left_bits, known_bits):  # pragma: no cover - compiled
    if x < 0:  # outside the codes the model knows: the missing-value way
        return node_flags & MISSING_LEFT != 0
    code = np.int64(x) & 255
    if (left_bits[code >> 5] >> (code & 31)) & 1:
        return True
    if (known_bits[code >> 5] >> (code & 31)) & 1:
        return False
    return node_flags & MISSING_LEFT != 0
