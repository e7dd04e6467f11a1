"""Loading and validating training data, and fingerprinting it for lineage.

Validation happens before any training so that an empty, truncated or mistyped file fails in seconds,
with a message naming the file and column, and leaves no trace in the registry or the gitops remote.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import zlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from model_contract.artifact import Feature, model_frame
from training.config import BUILTIN_PREFIX, TrainingConfig

BUILTIN_DATASETS = {"ames": "ames.csv.gz"}


class DataError(ValueError):
    """The training data cannot be used: the message names the file and the column or row."""


@dataclass(frozen=True)
class Dataset:
    """Validated training data: the typed feature frame, the target, and where it came from."""

    features: pd.DataFrame
    target: pd.Series
    schema: tuple[Feature, ...]
    fingerprint: str
    source: str

    def __len__(self) -> int:
        return len(self.target)


def resolve_source(config: TrainingConfig) -> tuple[str, bytes]:
    """The data's display name and raw bytes, from the package or from a path relative to the config."""
    source = config.data.source
    if source.startswith(BUILTIN_PREFIX):
        name = source.removeprefix(BUILTIN_PREFIX)
        if name not in BUILTIN_DATASETS:
            raise DataError(
                f"data.source {source!r}: unknown builtin dataset (known: {', '.join(BUILTIN_DATASETS)})"
            )
        resource = resources.files("training") / "data" / BUILTIN_DATASETS[name]
        return f"training/data/{BUILTIN_DATASETS[name]}", resource.read_bytes()
    path = Path(source) if Path(source).is_absolute() else config.base_dir / source
    try:
        return str(path), path.read_bytes()
    except FileNotFoundError as error:
        raise DataError(f"data.source: file {path} does not exist") from error
    except IsADirectoryError as error:
        raise DataError(f"data.source: {path} is a folder, expected a CSV or Parquet file") from error


def load_dataset(config: TrainingConfig) -> Dataset:
    """Read, validate and fingerprint the configured data."""
    name, raw = resolve_source(config)
    frame = read_table(name, raw)
    del raw  # validation needs only the parsed table: the file's bytes (130 MB at 293k rows) can go
    return validate(frame, config, name)


def read_table(name: str, raw: bytes) -> pd.DataFrame:
    """Parse CSV (plain or gzip) or Parquet bytes; truncation and emptiness are errors, not NaNs.

    The CSV parser reads the bytes directly: decoding the whole file into one string first (and a list of
    its lines for the truncation check) cost four to five times the file's size in memory.
    """
    if name.endswith(".parquet") or raw[:4] == b"PAR1":
        return _read_parquet(name, raw)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as error:
            raise DataError(f"{name}: truncated or corrupt gzip file ({error})") from error
    if not raw.strip():
        raise DataError(f"{name}: file is empty")
    _check_last_line_complete(name, raw)
    try:
        return pd.read_csv(io.BytesIO(raw), encoding="utf-8", encoding_errors="replace")
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DataError(f"{name}: not a readable CSV file: {error}") from error


def _read_parquet(name: str, raw: bytes) -> pd.DataFrame:
    try:
        return pd.read_parquet(io.BytesIO(raw))
    except Exception as error:  # pyarrow raises several types for damaged files
        raise DataError(f"{name}: not a readable Parquet file: {error}") from error


def _check_last_line_complete(name: str, raw: bytes) -> None:
    header, last = _first_and_last_line(raw)
    if last is None:
        raise DataError(f"{name}: has a header but no data rows")
    header_fields, last_fields = (next(csv.reader([line])) for line in (header, last))
    if len(last_fields) != len(header_fields):
        raise DataError(
            f"{name}: last line has {len(last_fields)} fields but the header has {len(header_fields)}: "
            "the file looks truncated"
        )


def _first_and_last_line(raw: bytes) -> tuple[str, str | None]:
    """The header and the last non-empty line (None when there is only a header), found without
    splitting the file into lines."""
    end = len(raw)
    while end > 0 and raw[end - 1 : end] in (b"\n", b"\r"):
        end -= 1
    first_end = raw.find(b"\n", 0, end)
    if first_end < 0:
        return _decode_line(raw[:end]), None
    last_start = raw.rfind(b"\n", 0, end) + 1
    return _decode_line(raw[:first_end]), _decode_line(raw[last_start:end])


def _decode_line(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")


def validate(frame: pd.DataFrame, config: TrainingConfig, name: str) -> Dataset:
    """Check the frame against the config and return it typed; DataError on the first problem."""
    target = config.data.target
    if target not in frame.columns:
        raise DataError(f"{name}: target column {target!r} (data.target) is not in the file")
    feature_names = _feature_names(frame, config, name)
    _check_rows(frame, [*feature_names, target], config, name)
    _check_target(frame[target], name, target)
    schema = tuple(_feature(frame[column], config, name) for column in feature_names)
    _check_derived(config, schema, name)
    features = model_frame(frame, schema)
    _check_finite_numbers(features, schema, name)
    labels = frame[target].astype("float64").reset_index(drop=True)
    return Dataset(features, labels, schema, fingerprint(features, labels), name)


def _feature_names(frame: pd.DataFrame, config: TrainingConfig, name: str) -> list[str]:
    target = config.data.target
    if config.data.features == "all":
        names = [column for column in frame.columns if column != target]
    else:
        names = list(config.data.features)
        for column in names:
            if column not in frame.columns:
                raise DataError(f"{name}: column {column!r} listed in data.features is not in the file")
            if column == target:
                raise DataError(f"data.features: {column!r} is the target and cannot also be a feature")
    for key, columns in (
        ("data.required_features", config.data.required_features),
        ("data.types", config.data.types),
    ):
        for column in columns:
            if column not in names:
                raise DataError(f"{key}: column {column!r} is not among the features of {name}")
    if not names:
        raise DataError(f"{name}: no feature columns besides the target")
    return names


def _check_rows(frame: pd.DataFrame, used: list[str], config: TrainingConfig, name: str) -> None:
    """Enough rows, and no used column without any value (an unused one does not matter)."""
    if len(frame) < config.data.min_rows:
        raise DataError(f"{name}: {len(frame)} rows, fewer than data.min_rows={config.data.min_rows}")
    empty = [column for column in used if frame[column].isna().all()]
    if empty:
        raise DataError(f"{name}: column(s) {', '.join(map(repr, empty))} have no values at all")


def _check_finite_numbers(features: pd.DataFrame, schema: tuple[Feature, ...], name: str) -> None:
    """An infinite value ("inf" in a CSV file) is no measurement: it would also make the feature's
    training range, which the engine warns against, infinite."""
    for feature in schema:
        if feature.kind == "numeric":
            infinite = np.flatnonzero(np.isinf(features[feature.name].to_numpy()))
            if infinite.size:
                lines = ", ".join(str(row + 2) for row in infinite[:5])
                raise DataError(
                    f"{name}: column {feature.name!r} holds an infinite value on {infinite.size} row(s) "
                    f"(lines {lines})"
                )


def _check_target(values: pd.Series, name: str, target: str) -> None:
    if not pd.api.types.is_numeric_dtype(values):
        bad = values[pd.to_numeric(values, errors="coerce").isna() & values.notna()]
        example = bad.iloc[0] if len(bad) else values.iloc[0]
        raise DataError(f"{name}: target column {target!r} must be numeric, found {example!r}")
    missing = values.isna()
    if missing.any():
        rows = ", ".join(str(i + 2) for i in missing[missing].index[:5])
        raise DataError(
            f"{name}: target column {target!r} is missing on {int(missing.sum())} row(s) (lines {rows})"
        )
    if (values <= 0).any():
        raise DataError(f"{name}: target column {target!r} must be positive (prices), found {values.min()}")


def _feature(values: pd.Series, config: TrainingConfig, name: str) -> Feature:
    column = str(values.name)
    declared = config.data.types.get(column)
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    kind = declared or ("numeric" if numeric else "categorical")
    required = column in config.data.required_features
    if kind == "numeric":
        if not numeric:
            coerced = pd.to_numeric(values, errors="coerce")
            bad = values[coerced.isna() & values.notna()]
            if len(bad):
                raise DataError(
                    f"{name}: column {column!r} is declared numeric (data.types) but holds {bad.iloc[0]!r}"
                )
        return Feature(column, "numeric", required)
    levels = sorted({str(v) for v in values.dropna().unique()})
    return Feature(column, "categorical", required, tuple(levels))


def _check_derived(config: TrainingConfig, schema: tuple[Feature, ...], name: str) -> None:
    kinds = {feature.name: feature.kind for feature in schema}
    for derived, spec in config.derived_features.items():
        if derived in kinds:
            raise DataError(f"derived_features.{derived}: name clashes with a column of {name}")
        for column in spec.columns:
            if kinds.get(column) != "numeric":
                problem = "is not a feature" if column not in kinds else "is not numeric"
                raise DataError(f"derived_features.{derived}: column {column!r} {problem} in {name}")


def fingerprint(features: pd.DataFrame, target: pd.Series) -> str:
    """sha256 of the schema (names, dtypes) and every value, independent of file format and row index.

    Values are hashed in their typed form, column by column (numbers by their float64 bits, categories
    by their text, missing as missing): turning every cell into a string first cost more time and memory
    than reading the file.
    """
    digest = hashlib.sha256()
    schema = [(str(c), str(features[c].dtype)) for c in features.columns] + [(str(target.name), "target")]
    digest.update(json.dumps(schema).encode())
    digest.update(pd.util.hash_pandas_object(features, index=False).to_numpy().tobytes())
    digest.update(np.ascontiguousarray(target.to_numpy(dtype="float64")).tobytes())
    return digest.hexdigest()
