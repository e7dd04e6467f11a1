"""One model call's columns as two matrices, built once per call and read by every transformer after.

A ColumnTransformer reads its columns block by block, and a voting model runs one per member: read from the
columns mapping, each block stacked its own columns again (``np.column_stack`` of one array per feature) and
each categorical column was coded on its own. On a lone property those per-column calls, not arithmetic,
were most of a model call. Here the numbers are stacked once (one conversion of every numeric feature) and
every categorical column is coded in one pass of dictionary lookups; a block then selects its columns with a
single fancy index. The element values are the same, so is every number computed from them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from estimation_engine.model.fast_path import Columns

Coders = Mapping[str, "CategoryCodes"]


@dataclass(frozen=True)
class Inputs:
    """A model call's values: ``numbers`` float64 (rows, numeric features), C order; ``codes`` intp (rows,
    categorical features + 1), each column a feature's level codes, the last column 0 (the code of "no
    input": an output column that no input moves reads it)."""

    numbers: np.ndarray
    codes: np.ndarray

    @property
    def rows(self) -> int:
        return self.numbers.shape[0]


class CategoryCodes:
    """A categorical column's values as integer codes: its levels 0..n-1, then missing, then unseen."""

    def __init__(self, levels: list[str]) -> None:
        self.levels = list(levels)
        self.missing, self.unseen = len(self.levels), len(self.levels) + 1
        self.index = _LevelIndex({level: code for code, level in enumerate(self.levels)})
        self.index[np.nan] = self.missing  # found by identity: validation writes np.nan itself for missing
        self.index.codes = self


class _LevelIndex(dict):
    """level -> code; anything else is missing (a float: NaN, see validation.py) or an unseen level."""

    codes: CategoryCodes

    def __missing__(self, value: object) -> int:
        return self.codes.unseen if value.__class__ is str else self.codes.missing


class InputLayout:
    """Where each feature's values sit in a call's Inputs: numeric features in card order, categorical
    features in the coders' order (their codes), and how to build those Inputs from columns."""

    def __init__(self, numeric: list[str], coders: Coders) -> None:
        self.numeric = list(numeric)
        self.categorical = list(coders)
        self.number_column = {name: position for position, name in enumerate(self.numeric)}
        self.code_column = {name: position for position, name in enumerate(self.categorical)}
        self.no_input = len(self.categorical)  # the codes column that is always 0
        self._indexes = [coders[name].index for name in self.categorical]

    def columns_of(self, names: list[str]) -> np.ndarray:
        """Where these numeric features sit in ``Inputs.numbers``, in this order."""
        return np.array([self.number_column[name] for name in names], dtype=np.intp)

    def inputs(self, columns: Columns, rows: int) -> Inputs:
        numbers = np.array([columns[name] for name in self.numeric], dtype=np.float64).reshape(-1, rows)
        return Inputs(np.ascontiguousarray(numbers.T), self._codes(columns, rows))

    def probe(self) -> Inputs:
        """One row of anything (1.0 for every number, code 0 everywhere), to learn a block's width."""
        return Inputs(np.ones((1, len(self.numeric))), np.zeros((1, self.no_input + 1), dtype=np.intp))

    def _codes(self, columns: Columns, rows: int) -> np.ndarray:
        codes = np.zeros((rows, self.no_input + 1), dtype=np.intp)
        if not self.categorical:
            return codes
        texts = np.empty((len(self.categorical), rows), dtype=object)
        texts[...] = [columns[name] for name in self.categorical]
        # One C-level pass of dictionary lookups, column after column; only values that are not known
        # levels reach Python (_LevelIndex.__missing__).
        indexes = itertools.chain.from_iterable(map(itertools.repeat, self._indexes, itertools.repeat(rows)))
        found = np.fromiter(map(dict.__getitem__, indexes, texts.ravel().tolist()), np.intp, texts.size)
        codes[:, : self.no_input] = found.reshape(len(self.categorical), rows).T
        return codes
