"""The model pipeline: raw rows in, sane prices out, even when optional features are left out."""

import numpy as np
import pytest

from model_contract.config_error import ConfigError
from training.config import EstimatorConfig
from training.dataset import load_dataset
from training.estimator import build_pipeline
from training.train import fit, split_rows

HOUSE = {"Gr_Liv_Area": 1656, "Neighborhood": "North_Ames", "Year_Built": 1960, "Lot_Area": 31770}


@pytest.fixture(scope="module")
def model(tmp_path_factory, ames):
    from tests.conftest import write_small_config
    from training.config import load_config

    config = load_config(write_small_config(tmp_path_factory.mktemp("estimator"), ames))
    dataset = load_dataset(config)
    return fit(config, dataset, split_rows(dataset, config.split), "test"), dataset


def test_each_blended_member_gives_a_sane_price_for_a_request_with_only_required_features(model):
    fitted, _ = model
    frame = fitted.frame([HOUSE])
    members = fitted.pipeline.regressor_.named_estimators_
    prices = {name: float(np.exp(member.predict(frame))[0]) for name, member in members.items()}
    assert all(50_000 < price < 500_000 for price in prices.values()), prices
    estimate = fitted.estimate(frame)
    assert estimate.low[0] < estimate.price[0] < estimate.high[0]


def test_the_same_seed_trains_the_same_model(model, small_config):
    fitted, dataset = model
    again = fit(small_config, dataset, split_rows(dataset, small_config.split), "test")
    rows = fitted.frame(dataset.features.head(20).to_dict("records"))
    assert np.array_equal(fitted.estimate(rows).price, again.estimate(rows).price)


def test_an_unknown_estimator_parameter_is_refused_by_key(small_config, model):
    _, dataset = model
    bad = EstimatorConfig(kind="huber", params={"alpah": 0.1})
    config = small_config.model_copy(
        update={"model": small_config.model.model_copy(update={"estimators": (bad,)})}
    )
    with pytest.raises(
        ConfigError,
        match=r"^model.estimators\[huber\].params.alpah: not a parameter of HuberRegressor; allowed: alpha, ",
    ):
        build_pipeline(config, dataset.schema)
