"""Training writes each numeric feature's range, and the price range, of the rows the model was fitted on
into its card; data that holds an infinite number (which would make a range infinite) is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model_contract.artifact import ModelCard
from training.dataset import DataError, load_dataset
from training.train import fit, split_rows


@pytest.fixture
def trained(small_config):
    dataset = load_dataset(small_config)
    split = split_rows(dataset, small_config.split)
    return fit(small_config, dataset, split, "test"), dataset, split


def test_the_card_records_the_range_of_each_numeric_feature_in_the_rows_fitted_on(trained):
    model, dataset, split = trained
    card = ModelCard.from_json(model.card.to_json(), "estimation.json")  # as the engine reads it
    ranges = card.training_ranges()
    numeric = [f.name for f in dataset.schema if f.kind == "numeric"]
    assert sorted(ranges) == sorted(numeric)
    fitted = dataset.features.iloc[split.train]
    for name in numeric:
        values = fitted[name].dropna().to_numpy()
        seen = ranges[name]
        assert (seen.minimum, seen.maximum, seen.rows) == (values.min(), values.max(), len(values)), name
        assert (seen.q001, seen.q999) == pytest.approx(tuple(np.quantile(values, [0.001, 0.999]))), name
    # The calibration and test rows are not what the model learned from: some lie outside the ranges.
    everything = dataset.features[numeric]
    assert any(
        everything[n].max() > ranges[n].maximum or everything[n].min() < ranges[n].minimum for n in numeric
    )


def test_the_card_records_the_price_range_of_the_rows_fitted_on(trained):
    model, dataset, split = trained
    prices = dataset.target.to_numpy()[split.train]
    seen = model.card.target_range()
    assert (seen.minimum, seen.maximum, seen.rows) == (prices.min(), prices.max(), len(prices))


def test_an_infinite_number_in_the_training_data_is_refused_naming_column_and_line(tmp_path, small_config):
    folder = tmp_path / "config"
    frame = pd.read_csv(folder / "slice.csv")
    frame["Gr_Liv_Area"] = frame["Gr_Liv_Area"].astype(float)
    frame.loc[3, "Gr_Liv_Area"] = np.inf  # written as "inf", which pandas reads back as a float
    frame.to_csv(folder / "inf.csv", index=False)
    data = small_config.data.model_copy(update={"source": "inf.csv"})
    message = r"inf\.csv: column 'Gr_Liv_Area' holds an infinite value on 1 row\(s\) \(lines 5\)"
    with pytest.raises(DataError, match=message):
        load_dataset(small_config.model_copy(update={"data": data}))
