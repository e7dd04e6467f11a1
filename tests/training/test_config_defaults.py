"""A minimal config is complete: model_name, data.source and data.target; the rest are the shipped defaults.

The defaults are defined once, in training/config.py; the shipped training/config.yaml spells each of them
out so a person can read them there. These tests keep the two equal and show the minimal config trains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from training.config import ConfigError, TrainingConfig, load_config
from training.dataset import load_dataset
from training.train import fit, split_rows

DEFAULTED = ("split", "model", "intervals", "gate")


def _minimal(tmp_path: Path, **extra) -> Path:
    raw = {"model_name": "flats", "data": {"source": "sales.csv", "target": "price_eur"}, **extra}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def synthetic_sales(rows: int, seed: int = 0) -> pd.DataFrame:
    """Flat sales with column names the shipped config has never seen: price grows with area and rooms,
    and differs by district."""
    generator = np.random.default_rng(seed)
    area = generator.uniform(25, 160, rows).round(1)
    rooms = np.clip((area / 30).round() + generator.integers(-1, 2, rows), 1, 7)
    district = generator.choice(["Altstadt", "Hafen", "Nordend", "Westend"], rows)
    premium = pd.Series(district).map({"Altstadt": 0.25, "Hafen": 0.0, "Nordend": 0.1, "Westend": 0.35})
    log_price = 8.2 + np.log(area) + 0.03 * rooms + premium.to_numpy() + generator.normal(0, 0.08, rows)
    return pd.DataFrame({
        "area_sqm": area, "rooms": rooms, "district": district,
        "built": generator.integers(1900, 2024, rows), "price_eur": np.exp(log_price).round(),
    })  # fmt: skip


def test_the_shipped_file_spells_out_every_default_it_does_not_override():
    shipped = load_config()
    defaults = TrainingConfig(model_name=shipped.model_name, data=shipped.data)
    for section in DEFAULTED:
        assert getattr(shipped, section) == getattr(defaults, section), section


def test_model_name_source_and_target_make_a_complete_config(tmp_path):
    config = load_config(_minimal(tmp_path))
    shipped = load_config()
    assert (config.model_name, config.data.source, config.data.target) == ("flats", "sales.csv", "price_eur")
    for section in DEFAULTED:
        assert getattr(config, section) == getattr(shipped, section), section
    assert config.data.features == "all" and config.derived_features == {}


def test_a_minimal_config_trains_the_shipped_blend_on_other_data(tmp_path):
    synthetic_sales(400).to_csv(tmp_path / "sales.csv", index=False)
    config = load_config(_minimal(tmp_path))
    dataset = load_dataset(config)
    split = split_rows(dataset, config.split)
    model = fit(config, dataset, split, "test")
    members = model.pipeline.regressor_.named_estimators_
    assert list(members) == ["hist_gradient_boosting_0", "huber_1"]
    rows = dataset.features.iloc[split.test]
    error = np.log(model.estimate(rows).price) - np.log(dataset.target.to_numpy()[split.test])
    assert np.sqrt(np.mean(error**2)) < 0.2  # noise sd 0.08: the model learnt the price law


def test_a_section_given_in_part_keeps_the_defaults_of_the_rest(tmp_path):
    config = load_config(_minimal(tmp_path, split={"seed": 7}, model={"log_target": False}))
    shipped = load_config()
    assert config.split.seed == 7 and config.split.test_fraction == shipped.split.test_fraction
    assert config.model.log_target is False and config.model.estimators == shipped.model.estimators


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.pop("model_name"), r"config.yaml:model_name: not set; allowed: a value"),
        (lambda raw: raw["data"].pop("target"), r"config.yaml:data.target: not set; allowed: a value"),
        (
            lambda raw: raw.update(modle={"log_target": True}),
            r"config.yaml:modle: unknown key; allowed: only the keys",
        ),
        (
            lambda raw: raw.update(model={"estimators": []}),
            r"config.yaml:model.estimators: 0 items; allowed: at least 1 items$",
        ),
        (lambda raw: raw.update(split={"seed": "7"}), r"config.yaml:split.seed: '7' is not a valid integer"),
    ],
)
def test_a_minimal_config_with_a_mistake_is_refused_naming_the_key(tmp_path, change, message):
    raw = yaml.safe_load(_minimal(tmp_path).read_text())
    change(raw)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "config.yaml")
