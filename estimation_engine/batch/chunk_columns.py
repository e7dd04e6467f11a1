"""One chunk of a portfolio file as the model's columns: the values a JSON body would carry, per feature.

The HTTP path hands ``BatchValidator.typed`` columns whose types a schema decoder enforced: floats (None
for missing) for numeric features, strings (None for missing) for categorical ones. This module builds the
same from Arrow columns: numbers as float64 (missing as NaN, which ``typed`` also makes of None), text
cells of a numeric column parsed as numbers, categories as Python strings. What a schema decoder would
have refused never reaches ``typed``: a row with a cell that is not a number, a non-finite number or a
required feature missing is set aside (``suspect``) with the cell as it was in the file, so that the
validator's exhaustive path can say, in its own words, why the row is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from model_contract.artifact import Feature
from model_contract.config_error import ConfigError

# What a numeric cell of a text column may hold: a decimal number, or infinity (refused as not finite,
# with the validator's message). Anything else is "expected a number".
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$|^[+-]?(?i:inf|infinity)$"


@dataclass
class ChunkColumns:
    """A chunk's feature columns in signature order, and which rows cannot go to ``typed``."""

    size: int
    columns: list[np.ndarray]
    suspect: np.ndarray  # bool per row: a cell the schema would refuse, or a required feature missing
    raw: dict[str, np.ndarray]  # feature -> the cells as read, for the suspect rows' messages

    def item(self, features: tuple[Feature, ...], row: int) -> dict[str, Any]:
        """The row as a JSON body's property would hold it (missing features left out)."""
        item = {}
        for feature, column in zip(features, self.columns, strict=True):
            value = self.raw[feature.name][row] if feature.name in self.raw else column[row]
            if isinstance(value, np.generic):
                value = value.item()
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            item[feature.name] = value
        return item


def chunk_columns(batch: pa.RecordBatch, features: tuple[Feature, ...], source: Path) -> ChunkColumns:
    size = batch.num_rows
    present = set(batch.schema.names)
    columns: list[np.ndarray] = []
    suspect = np.zeros(size, dtype=bool)
    raw: dict[str, np.ndarray] = {}
    for feature in features:
        if feature.name not in present:
            column = np.full(size, np.nan) if feature.kind == "numeric" else np.full(size, None, dtype=object)
            missing = np.ones(size, dtype=bool)
        elif feature.kind == "numeric":
            column, bad = _numeric(batch.column(feature.name), feature.name, source)
            if bad is not None:
                suspect |= bad
                raw[feature.name] = np.where(bad, _objects(batch.column(feature.name)), column.astype(object))
            suspect |= np.isinf(column)
            missing = np.isnan(column)
        else:
            column = _categories(batch.column(feature.name), feature.name, source)
            missing = column == None  # noqa: E711 - elementwise on an object array
        if feature.required:
            suspect |= missing
        columns.append(column)
    return ChunkColumns(size, columns, suspect, raw)


def _numeric(values: pa.Array, name: str, source: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """float64 values (missing: NaN) and, for a text column, which cells are not numbers at all."""
    kind = values.type
    if pa.types.is_null(kind):
        return np.full(len(values), np.nan), None
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _floats(values), None
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise _wrong_type(source, name, kind, "numbers")
    try:
        return _floats(pc.cast(values, pa.float64())), None
    except pa.ArrowInvalid:  # some cell is not a number: find which, parse the others
        number = pc.fill_null(pc.match_substring_regex(values, _NUMBER), True)
        parsed = pc.cast(pc.if_else(number, values, pa.scalar(None, values.type)), pa.float64())
        bad = ~number.to_numpy(zero_copy_only=False)
        return _floats(parsed), bad


def _floats(values: pa.Array) -> np.ndarray:
    floats = pc.cast(values, pa.float64()) if values.type != pa.float64() else values
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)  # nulls become NaN


def _categories(values: pa.Array, name: str, source: Path) -> np.ndarray:
    """Python strings, None for missing: each distinct text is made a Python string once."""
    kind = values.type
    if pa.types.is_null(kind):
        return np.full(len(values), None, dtype=object)
    if pa.types.is_dictionary(kind):
        values = values.cast(kind.value_type)
        kind = values.type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise _wrong_type(source, name, kind, "text (one of the levels seen in training)")
    encoded = pc.dictionary_encode(values)
    levels = np.array([*encoded.dictionary.to_pylist(), None], dtype=object)
    codes = encoded.indices.fill_null(len(levels) - 1).to_numpy(zero_copy_only=False)
    return levels[codes]


def _objects(values: pa.Array) -> np.ndarray:
    return np.array(values.to_pylist(), dtype=object)


def _wrong_type(source: Path, name: str, kind: pa.DataType, allowed: str) -> ConfigError:
    return ConfigError.of("--input", f"{source}: column {name!r} holds {kind} values", f"{name}: {allowed}")
