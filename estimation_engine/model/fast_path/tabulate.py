"""Categorical transformers as lookups, and the ColumnTransformer that holds them, compiled.

Each categorical column becomes level codes once per request (inputs.py: the card's levels and any other
level a fitted encoder knows, then missing, then unseen); encoders and imputers, which map each value
independently, are tabulated at load by running the fitted transformer itself on every level, so a
request costs one gather per transformer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

from estimation_engine.model.fast_path import UnsupportedModelError
from estimation_engine.model.fast_path.inputs import Coders, InputLayout, Inputs
from estimation_engine.model.fast_path.numeric import numeric_block
from model_contract.artifact import Feature

UNSEEN = "\x00unseen level\x00"
_LOOKUP_TRANSFORMERS = (OrdinalEncoder, OneHotEncoder, SimpleImputer)


Block = Callable[[Inputs], np.ndarray]  # one transformer's output columns for a call's inputs
# Provenance of each output column: the finite set of values a tabulated column can take, or None.
Provenance = list[np.ndarray | None]


class OuterTransform:
    """A fitted ColumnTransformer's dense output: its blocks side by side (ColumnTransformer._hstack)."""

    def __init__(self, blocks: list[tuple[Block, Tabulated | None]], layout: InputLayout) -> None:
        self.blocks = blocks
        self.provenance: Provenance = []
        self._owner: list[tuple[Tabulated, int] | None] = []
        for block, tabulated in blocks:
            if tabulated is not None:
                self.provenance += tabulated.provenance()
                self._owner += [(tabulated, column) for column in range(tabulated.width)]
            else:
                width = block(layout.probe()).shape[1]
                self.provenance += [None] * width
                self._owner += [None] * width

    def __call__(self, inputs: Inputs) -> np.ndarray:
        return np.hstack([block(inputs) for block, _ in self.blocks])

    def remap(self, column: int, mapping: Callable[[np.ndarray], np.ndarray]) -> None:
        """Fold a value mapping that always follows this output column into its table."""
        owner = self._owner[column]
        if owner is None:
            raise UnsupportedModelError(f"output column {column} is not tabulated")
        owner[0].remap(owner[1], mapping)


def compile_column_transformer(
    transformer: ColumnTransformer, features: Mapping[str, Feature], coders: Coders, layout: InputLayout
) -> OuterTransform:
    if transformer.sparse_output_:
        raise UnsupportedModelError("sparse ColumnTransformer output")
    blocks: list[tuple[Block, Tabulated | None]] = []
    for name, fitted, selection in transformer.transformers_:
        if isinstance(fitted, str) and fitted == "drop":
            continue
        names = column_names(selection, features, name)
        if not names:
            continue
        kinds = {features[column].kind for column in names}
        if kinds == {"categorical"} and _is_lookup(fitted):
            tabulated = _tabulate(fitted, names, coders, layout)
            blocks.append((tabulated.block, tabulated))
        elif kinds == {"numeric"} and isinstance(fitted, str) and fitted == "passthrough":
            blocks.append((_passthrough_block(layout.columns_of(names)), None))
        elif kinds == {"numeric"} and not isinstance(fitted, str):
            blocks.append((numeric_block(fitted, layout.columns_of(names)), None))
        else:
            raise UnsupportedModelError(
                f"transformer {name!r} ({type(fitted).__name__}) on {sorted(kinds)} columns"
            )
    return OuterTransform(blocks, layout)


def column_names(selection: object, features: Mapping[str, Feature], name: str) -> list[str]:
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


class Tabulated:
    """A categorical transformer as one lookup: each output column's value for each level code of the
    single input column that determines it (or one value, for a column no input moves)."""

    def __init__(
        self,
        names: list[str],
        tables: list[np.ndarray],
        targets: list[np.ndarray],
        constant: np.ndarray,
        layout: InputLayout,
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
        # The Inputs' codes column each output column is looked up by (layout.no_input: none, code 0).
        code_columns = [layout.code_column[name] for name in names] + [layout.no_input]
        self.gather = np.array(code_columns, dtype=np.intp)[source]
        self.start = np.cumsum([0] + [len(piece) for piece in pieces[:-1]]).astype(np.intp)
        self.stop = self.start + [len(piece) for piece in pieces]
        self.values = np.concatenate(pieces).astype(np.float64)

    def block(self, inputs: Inputs) -> np.ndarray:
        return self.values[self.start + inputs.codes[:, self.gather]]

    def provenance(self) -> Provenance:
        return [np.unique(self.values[a:b]) for a, b in zip(self.start, self.stop, strict=True)]

    def remap(self, column: int, mapping: Callable[[np.ndarray], np.ndarray]) -> None:
        part = slice(self.start[column], self.stop[column])
        self.values[part] = mapping(self.values[part])


def _tabulate(transformer: object, names: list[str], coders: Coders, layout: InputLayout) -> Tabulated:
    """Run the fitted transformer once over probe rows that vary one column at a time through all its
    levels, then missing, then unseen (the order of the level codes), the others held at a base row; read
    off which output columns each input column determines. An output column moved by two input columns
    is not tabulable."""
    levels = [coders[name].levels for name in names]
    base = {name: (values[0] if values else np.nan) for name, values in zip(names, levels, strict=True)}
    segments, rows = [], [dict(base)]
    for name, values in zip(names, levels, strict=True):
        segments.append(len(rows))
        rows += [{**base, name: value} for value in [*values, np.nan, UNSEEN]]
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
    return Tabulated(names, tables, targets, output[0].copy(), layout)


def _passthrough_block(positions: np.ndarray) -> Block:
    def block(inputs: Inputs) -> np.ndarray:
        return inputs.numbers[:, positions]

    return block
