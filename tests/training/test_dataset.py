"""Training data: the shipped default is intact; bad files fail early with the file and column named."""

import gzip
import hashlib

import pandas as pd
import pytest

from tests.conftest import AMES
from training.config import load_config
from training.dataset import DataError, load_dataset


def test_the_shipped_data_matches_its_recorded_checksum():
    recorded = (AMES.parent / "ames.csv.gz.sha256").read_text().strip()
    assert hashlib.sha256(AMES.read_bytes()).hexdigest() == recorded


def test_the_default_data_loads_typed_with_a_stable_fingerprint():
    dataset = load_dataset(load_config())
    assert len(dataset) == 2930
    kinds = {f.name: f.kind for f in dataset.schema}
    assert kinds["Gr_Liv_Area"] == "numeric" and kinds["Neighborhood"] == "categorical"
    assert kinds["MS_SubClass"] == "categorical"  # declared in data.types
    assert "North_Ames" in next(f for f in dataset.schema if f.name == "Neighborhood").categories
    assert load_dataset(load_config()).fingerprint == dataset.fingerprint


def test_csv_and_parquet_of_the_same_data_have_the_same_fingerprint(tmp_path, small_config):
    folder = tmp_path / "config"
    pd.read_csv(folder / "slice.csv").to_parquet(folder / "slice.parquet")
    from_parquet = load_dataset(_with_data(small_config, tmp_path, "slice.parquet", None))
    assert from_parquet.fingerprint == load_dataset(small_config).fingerprint


def test_a_derived_feature_over_a_missing_column_is_named(small_config):
    from training.config import DerivedFeature

    derived = {"Total_SF": DerivedFeature(sum=("First_Flr_SF", "Attic_SF"))}
    with pytest.raises(DataError, match=r"derived_features\.Total_SF: column 'Attic_SF' is not a feature"):
        load_dataset(small_config.model_copy(update={"derived_features": derived}))


def _with_data(config, tmp_path, name: str, content: bytes | None, **data_changes):
    if content is not None:
        (tmp_path / "config" / name).write_bytes(content)
    data = config.data.model_copy(update={"source": name, **data_changes})
    return config.model_copy(update={"data": data})


def test_an_empty_file_is_refused(tmp_path, small_config):
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        load_dataset(_with_data(small_config, tmp_path, "empty.csv", b""))


def test_a_truncated_csv_is_refused(tmp_path, small_config):
    text = (tmp_path / "config" / "slice.csv").read_bytes()
    with pytest.raises(DataError, match="looks truncated"):
        load_dataset(_with_data(small_config, tmp_path, "cut.csv", text[: len(text) // 2]))


def test_a_truncated_gzip_is_refused(tmp_path, small_config):
    packed = gzip.compress((tmp_path / "config" / "slice.csv").read_bytes())
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        load_dataset(_with_data(small_config, tmp_path, "cut.csv.gz", packed[: len(packed) // 2]))


def test_a_missing_file_is_named(small_config):
    config = small_config.model_copy(
        update={"data": small_config.data.model_copy(update={"source": "nope.csv"})}
    )
    with pytest.raises(DataError, match=r"data.source: file .*nope\.csv does not exist"):
        load_dataset(config)


def _edited(tmp_path, small_config, edit, name="edited.csv", **data_changes):
    frame = pd.read_csv(tmp_path / "config" / "slice.csv")
    edit(frame)
    return _with_data(small_config, tmp_path, name, frame.to_csv(index=False).encode(), **data_changes)


@pytest.mark.parametrize(
    ("edit", "changes", "message"),
    [
        (lambda f: f.drop(columns="Sale_Price", inplace=True), {}, "target column 'Sale_Price'"),
        (lambda f: f.__setitem__("Sale_Price", "cheap"), {}, "must be numeric, found 'cheap'"),
        (lambda f: f.loc.__setitem__((3, "Sale_Price"), None), {}, "missing on 1 row"),
        (lambda f: f.loc.__setitem__((3, "Sale_Price"), -5), {}, "must be positive"),
        (lambda f: f.__setitem__("Alley", None), {}, "'Alley' have no values at all"),
        (
            lambda f: f.__setitem__("Lot_Area", f["Lot_Area"].astype(str).where(f.index != 2, "big")),
            {"types": {"Lot_Area": "numeric"}},
            "'Lot_Area' is declared numeric",
        ),
        (
            lambda f: None,
            {"features": ("Gr_Liv_Area", "Garage_Colour")},
            "'Garage_Colour' listed in data.features",
        ),
        (
            lambda f: None,
            {"required_features": ("Pool_Depth",)},
            "data.required_features: column 'Pool_Depth'",
        ),
        (lambda f: None, {"min_rows": 5000}, "fewer than data.min_rows=5000"),
    ],
)
def test_bad_data_is_refused_naming_the_column(tmp_path, small_config, edit, changes, message):
    with pytest.raises(DataError, match=message):
        load_dataset(_edited(tmp_path, small_config, edit, **changes))
