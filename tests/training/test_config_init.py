"""``python -m training init`` writes a starting config a person can review and training accepts as is.

On the shipped Ames data and on a small synthetic set with other column names: the types it writes are
the ones training infers, the columns it leaves out are said with their reason, the required features
follow the documented rule, and it never overwrites a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import AMES
from tests.training.test_config_defaults import synthetic_sales
from training.cli import main
from training.config import ConfigError, load_config
from training.config_init import write_starting_config
from training.dataset import DataError, load_dataset
from training.train import fit, split_rows


@pytest.fixture(scope="module")
def ames_config(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("init") / "ames.yaml"
    write_starting_config(AMES, "Sale_Price", output)
    return output


def test_on_the_shipped_data_it_writes_the_types_training_infers(ames_config):
    config = load_config(ames_config)
    dataset = load_dataset(config)
    assert config.data.source == str(AMES) and config.data.target == "Sale_Price"
    assert config.data.features == "all" and len(dataset.schema) == 73
    assert config.data.types == {feature.name: feature.kind for feature in dataset.schema}
    text = ames_config.read_text()
    assert "Neighborhood: categorical        # 28 levels, none missing" in text
    assert "Lot_Area: numeric                # 1300 to 215245, none missing" in text
    assert "Mas_Vnr_Type: categorical        # 4 levels, 1,775 missing" in text
    assert "Full_Bath: numeric               # 0 to 4, none missing; 5 whole-number values" in text


def test_on_the_shipped_data_the_required_features_are_the_strongest_never_missing_ones(ames_config):
    """The rule picks the four the shipped config requires but one: Garage_Cars (rank correlation with
    log price 0.49) over Lot_Area (0.15); Mas_Vnr_Type, with gaps, is never proposed."""
    config = load_config(ames_config)
    assert config.data.required_features == ("Neighborhood", "Gr_Liv_Area", "Garage_Cars", "Year_Built")
    assert (
        "# Neighborhood 0.58, Gr_Liv_Area 0.52, Garage_Cars 0.49, Year_Built 0.46," in ames_config.read_text()
    )


def _sales_with_awkward_columns(rows: int = 300) -> pd.DataFrame:
    frame = synthetic_sales(rows)
    generator = np.random.default_rng(1)
    frame["listing_id"] = [f"L-{i:05d}" for i in range(rows)]
    frame["notes"] = None
    frame["zip"] = generator.choice([60311, 60313, 60316], rows)
    # As telling as the area itself, but missing on a fifth of the rows: never a required feature.
    frame["listed_sqm"] = np.where(generator.random(rows) < 0.2, np.nan, frame["area_sqm"] + 1)
    return frame


def test_on_other_data_it_leaves_out_ids_and_empty_columns_and_the_config_trains(tmp_path):
    _sales_with_awkward_columns().to_csv(tmp_path / "flats.csv", index=False)
    written = write_starting_config(tmp_path / "flats.csv", "price_eur", tmp_path / "flats.yaml")
    assert written.left_out == {
        "listing_id": "a different text on every row: an identifier, not a feature",
        "notes": "no values at all",
    }
    config = load_config(tmp_path / "flats.yaml")
    assert config.model_name == "flats-price" and config.data.source == "flats.csv"
    assert config.data.features == ("area_sqm", "rooms", "district", "built", "zip", "listed_sqm")
    assert config.data.types["district"] == "categorical" and config.data.types["zip"] == "numeric"
    assert config.data.required_features[:2] == ("area_sqm", "rooms")
    assert "listed_sqm" not in config.data.required_features  # it has gaps
    text = (tmp_path / "flats.yaml").read_text()
    assert "zip: numeric" in text and "3 whole-number values: categorical if they are codes" in text
    assert "# left out listing_id: a different text on every row" in text

    dataset = load_dataset(config)
    model = fit(config, dataset, split_rows(dataset, config.split), "test")
    assert model.card.feature_names == list(config.data.features)


def test_it_never_overwrites_a_file_and_says_which(tmp_path, capsys):
    existing = tmp_path / "config.yaml"
    existing.write_text("model_name: mine\n")
    with pytest.raises(
        ConfigError, match=rf"--output: {existing} already exists; allowed: a path where no file is"
    ):
        write_starting_config(AMES, "Sale_Price", existing)
    assert main(["init", "--data", str(AMES), "--target", "Sale_Price", "--output", str(existing)]) == 2
    assert f"error: --output: {existing} already exists" in capsys.readouterr().err
    assert existing.read_text() == "model_name: mine\n"


@pytest.mark.parametrize(
    ("setup", "target", "error", "message"),
    [
        (lambda d: None, "price", DataError, r"missing\.csv: no such file \(--data\)"),
        (lambda d: _write(d, synthetic_sales(300)), "Price_Eur", DataError,
         r"sales\.csv: no column 'Price_Eur' \(--target\); did you mean 'price_eur'\?"),
        (lambda d: _write(d, synthetic_sales(300).assign(price_eur="on request")), "price_eur", DataError,
         r"sales\.csv: target column 'price_eur' must be numeric, found 'on request'"),
        (lambda d: _write(d, synthetic_sales(50)), "price_eur", DataError,
         r"sales\.csv: 50 rows, fewer than data\.min_rows=200"),
    ],
)  # fmt: skip
def test_data_it_cannot_use_is_refused_naming_the_file_and_column(tmp_path, setup, target, error, message):
    setup(tmp_path)
    data = tmp_path / ("sales.csv" if (tmp_path / "sales.csv").exists() else "missing.csv")
    with pytest.raises(error, match=message):
        write_starting_config(data, target, tmp_path / "config.yaml")
    assert not (tmp_path / "config.yaml").exists()


def test_the_command_writes_the_config_and_summarises_it(tmp_path, capsys):
    _write(tmp_path, synthetic_sales(300))
    output = tmp_path / "configs" / "flats.yaml"
    argv = ["init", "--data", str(tmp_path / "sales.csv"), "--target", "price_eur", "--output", str(output)]
    assert main([*argv, "--required", "2", "--model-name", "flats"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {output}: 4 features (3 numeric, 1 categorical), required: area_sqm, rooms" in out
    assert f"python -m training run --config {output}" in out
    assert yaml.safe_load(output.read_text())["data"]["source"] == str(tmp_path / "sales.csv")
    assert load_config(output).model_name == "flats"


def _write(folder: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / "sales.csv", index=False)
