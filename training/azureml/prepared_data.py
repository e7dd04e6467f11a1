"""The prepared-data folder: what the prepare step hands to the others, and what becomes a data asset.

A folder rather than the raw file, so that the later steps get the data exactly as validated: the typed
feature frame and target as Parquet, the schema that typed it, and the fingerprint. Reading it back checks
the fingerprint again, so a damaged or hand-edited asset is refused instead of training a different model.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from model_contract.artifact import Feature, model_frame
from training.dataset import DataError, Dataset, fingerprint

DATA_FILE = "data.parquet"
SCHEMA_FILE = "schema.json"
FINGERPRINT_FILE = "fingerprint.json"
TARGET_COLUMN = "__target__"
FORMAT_VERSION = 1


def write_prepared(dataset: Dataset, folder: Path) -> Path:
    """Write ``dataset`` into ``folder`` (created if missing) and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = dataset.features.copy()
    frame[TARGET_COLUMN] = dataset.target.to_numpy()
    frame.to_parquet(folder / DATA_FILE, index=False)
    schema = {
        "format_version": FORMAT_VERSION,
        "target": str(dataset.target.name),
        "features": [asdict(feature) for feature in dataset.schema],
    }
    (folder / SCHEMA_FILE).write_text(json.dumps(schema, indent=2))
    record = {"fingerprint": dataset.fingerprint, "rows": len(dataset), "source": dataset.source}
    (folder / FINGERPRINT_FILE).write_text(json.dumps(record, indent=2))
    return folder


def read_prepared(folder: Path) -> Dataset:
    """The dataset written by ``write_prepared``; DataError if a file is missing or the data changed."""
    for name in (DATA_FILE, SCHEMA_FILE, FINGERPRINT_FILE):
        if not (folder / name).is_file():
            raise DataError(f"{folder}: not a prepared-data folder, {name} is missing")
    schema = _read_json(folder / SCHEMA_FILE)
    record = _read_json(folder / FINGERPRINT_FILE)
    if schema.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{folder / SCHEMA_FILE}: prepared-data format {schema.get('format_version')!r} is not supported"
        )
    try:
        features = tuple(
            Feature(**{**item, "categories": tuple(item.get("categories", ()))})
            for item in schema["features"]
        )
        target_name, expected = schema["target"], record["fingerprint"]
    except (KeyError, TypeError) as error:
        raise DataError(f"{folder}: schema.json or fingerprint.json lacks {error}") from error
    frame = pd.read_parquet(folder / DATA_FILE)
    if TARGET_COLUMN not in frame.columns:
        raise DataError(f"{folder / DATA_FILE}: the target column is missing")
    typed = model_frame(frame, features)
    target = frame[TARGET_COLUMN].astype("float64").rename(target_name).reset_index(drop=True)
    actual = fingerprint(typed, target)
    if actual != expected:
        raise DataError(
            f"{folder}: data fingerprint {actual[:12]} does not match the recorded {expected[:12]}: "
            "the prepared data was changed after the prepare step wrote it"
        )
    return Dataset(typed, target, features, actual, str(record.get("source", folder)))


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise DataError(f"{path}: expected a JSON object")
    return value
