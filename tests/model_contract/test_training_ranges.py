"""The training ranges in the model card: recorded as the previous engine can still read, old cards
(without them) still load, and a damaged range is refused when the card is read, naming its key."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

import numpy as np
import pandas as pd
import pytest

from model_contract.artifact import (
    TARGET_RANGE,
    TRAINING_RANGES,
    ArtifactError,
    Feature,
    IntervalBand,
    ModelCard,
    TrainingRange,
    save_model_artifact,
)

AREA = TrainingRange(minimum=334.0, maximum=5642.0, q001=480.0, q999=4700.0, rows=1800)
PRICES = TrainingRange(minimum=12789.0, maximum=755000.0, q001=35000.0, q999=615000.0, rows=1800)
# The keys a card of format 1 had before ranges were recorded: what the previous engine's reader accepts
# (it builds ModelCard(**card) and Feature(**feature), so any other key makes it refuse the model).
FORMAT_1_CARD_KEYS = {
    "model_name", "target", "features", "nominal_coverage", "bands", "metrics", "data_fingerprint",
    "lineage_key", "training_run_id", "estimator", "format_version", "extra",
}  # fmt: skip
FORMAT_1_FEATURE_KEYS = {"name", "kind", "required", "categories"}
KEY = "extra.training_ranges.Gr_Liv_Area"


def card(extra: dict | None = None) -> ModelCard:
    features = (Feature("Gr_Liv_Area", "numeric", True), Feature("Street", "categorical", False, ("Pave",)))
    return ModelCard(
        "ames-price", "Sale_Price", features, 0.9, (IntervalBand(None, 0.2),), {}, "fp", "lineage",
        extra={} if extra is None else extra,
    )  # fmt: skip


def ranged_card() -> ModelCard:
    return card({TRAINING_RANGES: {"Gr_Liv_Area": asdict(AREA)}, TARGET_RANGE: asdict(PRICES)})


def test_ranges_survive_the_card_s_json_round_trip():
    loaded = ModelCard.from_json(ranged_card().to_json(), "estimation.json")
    assert loaded.training_ranges() == {"Gr_Liv_Area": AREA}
    assert loaded.target_range() == PRICES


def test_a_card_with_ranges_has_only_the_keys_the_previous_engine_reads():
    raw = json.loads(ranged_card().to_json())
    assert set(raw) == FORMAT_1_CARD_KEYS
    assert all(set(feature) == FORMAT_1_FEATURE_KEYS for feature in raw["features"])
    assert raw["format_version"] == 1
    assert {f.name for f in fields(ModelCard)} == FORMAT_1_CARD_KEYS


def test_a_card_written_before_ranges_were_recorded_loads_without_any():
    old = json.loads(card({"git_commit": "abc", "rows": {"train": 10}}).to_json())
    loaded = ModelCard.from_json(json.dumps(old), "estimation.json")
    assert loaded.training_ranges() == {}
    assert loaded.target_range() is None


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"Street": asdict(AREA)}, "extra.training_ranges.Street: 'Street' is not a numeric feature"),
        ({"Gr_Liv_Area": {"minimum": 1.0}}, "extra.training_ranges.Gr_Liv_Area: .*missing"),
        ({"Gr_Liv_Area": {**asdict(AREA), "maximum": float("inf")}}, f"{KEY}: every value must be a finite"),
        ({"Gr_Liv_Area": {**asdict(AREA), "minimum": "334"}}, f"{KEY}: every value must be a finite"),
        ({"Gr_Liv_Area": {**asdict(AREA), "minimum": 9000.0}}, f"{KEY}: expected minimum <= q001"),
        ([1, 2], "extra.training_ranges must map feature names to ranges"),
    ],
)
def test_a_damaged_range_is_refused_when_the_card_is_read(ranges, message):
    text = card({TRAINING_RANGES: ranges}).to_json()
    with pytest.raises(ArtifactError, match=rf"^estimation.json: not a valid model card: {message}"):
        ModelCard.from_json(text, "estimation.json")


def test_a_card_with_a_damaged_range_is_never_written(tmp_path):
    damaged = card({TARGET_RANGE: {**asdict(PRICES), "q001": 1e9}})
    with pytest.raises(ArtifactError, match=r"extra\.target_range: expected minimum <= q001"):
        save_model_artifact(tmp_path / "model", object(), damaged, pd.DataFrame(), [])
    assert not (tmp_path / "model").exists()


def test_a_range_ignores_missing_values_and_keeps_its_quantiles_inside_the_extremes():
    values = np.array([np.nan, *range(1, 1001), np.nan])
    seen = TrainingRange.of(values)
    assert (seen.minimum, seen.maximum, seen.rows) == (1.0, 1000.0, 1000)
    assert seen.q001 == pytest.approx(1.999) and seen.q999 == pytest.approx(999.001)
    assert TrainingRange.of(np.array([np.nan, np.nan])) is None


@pytest.mark.parametrize(
    ("seen", "scale"),
    [
        (TrainingRange(407.0, 5642.0, 480.0, 4700.0, 100), 5642.0),  # its largest magnitude
        (TrainingRange(-90.0, 10.0, -80.0, 0.0, 100), 100.0),  # its span
        (TrainingRange(0.0, 900.0, 0.0, 0.0, 100), 900.0),  # sparse: the quantiles do not shrink it
        (TrainingRange(0.0, 0.0, 0.0, 0.0, 100), 0.0),  # always zero: no scale (the engine then only warns)
    ],
)
def test_the_scale_far_outside_is_measured_in_is_the_span_or_the_largest_magnitude(seen, scale):
    assert seen.scale == scale
