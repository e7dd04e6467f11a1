"""The gradient-boosted trees of a fitted HistGradientBoostingRegressor, walked by one compiled loop.

scikit-learn predicts tree by tree: one call per boosting iteration (400 in the shipped config), each
entering a parallel region, for every batch, even a single property. That per-tree overhead, not the tree
walking, is most of the time of a small request. Here all trees are flattened into one table of packed
nodes (a split's column, threshold, children and flags in one 32-byte record, so a step down the tree reads
one cache line) and a loop compiled with numba walks each tree for every row before moving to the next:
the tree's nodes stay in the first-level cache while the rows stream past (the layouts tried and their
timings are in benchmarks/README.md).

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
NODE = np.dtype(
    [
        ("threshold", np.float64),  # a numeric split sends value <= threshold left; a leaf: its value
        ("feature", np.int32),  # the column a split reads
        ("left", np.int32),  # children: indices into the whole table
        ("right", np.int32),
        ("flags", np.int32),  # LEAF | MISSING_LEFT | CATEGORICAL
        ("left_bitset", np.int32),  # a categorical split: its row in left_bitsets
        ("known_bitset", np.int32),  # a categorical split: its feature's row in known_bitsets
    ],
    align=True,
)


@dataclass(frozen=True)
class FlatForest:
    """All trees of one boosting model as one node table."""

    roots: np.ndarray  # int32 (trees,): each tree's root node
    nodes: np.ndarray  # NODE (nodes,)
    left_bitsets: np.ndarray  # uint32 (splits, 8): categories sent left, one bit per code 0..255
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
        source = np.concatenate(tables)
        leaf = source["is_leaf"].astype(bool)
        categorical = source["is_categorical"].astype(bool) & ~leaf
        nodes = np.zeros(len(source), dtype=NODE)
        nodes["threshold"] = np.where(leaf, source["value"], source["num_threshold"])
        nodes["feature"] = np.where(leaf, 0, source["feature_idx"])
        nodes["left"] = source["left"] + node_offset
        nodes["right"] = source["right"] + node_offset
        nodes["flags"] = (
            leaf * LEAF + source["missing_go_to_left"].astype(bool) * MISSING_LEFT + categorical * CATEGORICAL
        )
        nodes["left_bitset"] = np.where(categorical, source["bitset_idx"] + bitset_offset, 0)
        feature_row = np.asarray(known_row_of_feature)[np.where(leaf, 0, source["feature_idx"])]
        nodes["known_bitset"] = np.where(categorical, feature_row, 0)
        stacked = [b for b in bitsets if len(b)]
        left_bitsets = np.concatenate(stacked) if stacked else np.zeros((1, 8), dtype=np.uint32)
        known = np.asarray(known_bitsets, dtype=np.uint32).reshape(-1, 8)
        return cls(
            roots=(np.cumsum(sizes) - sizes).astype(np.int32),
            nodes=nodes,
            left_bitsets=np.ascontiguousarray(left_bitsets, dtype=np.uint32),
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
        _walk(data, self.roots, self.nodes, self.left_bitsets, self.known_bitsets, self.baseline, out)


class RowThreads:
    """Shares the rows of a large batch among threads; the calling thread walks the first share itself.

    Rows are independent, so each row's sum is the same whichever thread computes it. A share is at
    least MIN_SHARE rows: below that, handing work to another thread costs more than it saves.
    """

    MIN_SHARE = 128

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix="trees") if threads > 1 else None

    def close(self) -> None:
        """Stop the helper threads (they would otherwise idle until the process exits)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def share(self, rows: int, work: Callable[[slice], None]) -> None:
        count = min(self.threads, rows // self.MIN_SHARE)
        if self._pool is None or count < 2:
            work(slice(0, rows))
            return
        bounds = [rows * part // count for part in range(count)] + [rows]
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
def _walk(data, roots, nodes, left_bitsets, known_bitsets, baseline, out):  # pragma: no cover - compiled
    rows = data.shape[0]
    for i in range(rows):
        out[i] = baseline
    for tree in range(roots.shape[0]):
        root = roots[tree]
        for i in range(rows):
            node = nodes[root]
            while not node.flags & LEAF:
                x = data[i, node.feature]
                if node.flags & CATEGORICAL:
                    if np.isnan(x):
                        go_left = node.flags & MISSING_LEFT != 0
                    else:
                        go_left = _categorical_left(
                            x, node.flags, left_bitsets[node.left_bitset], known_bitsets[node.known_bitset]
                        )
                else:  # (NaN <= threshold is false: missing values go left only if the split says so)
                    go_left = x <= node.threshold or (np.isnan(x) and node.flags & MISSING_LEFT != 0)
                node = nodes[node.left if go_left else node.right]
            out[i] += node.threshold  # a leaf's value


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
