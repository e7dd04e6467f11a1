"""Numbers outside the training range: estimated with a warning naming field, value and range; refused,
naming the field, when far outside or when the model's answer is no price; models without recorded
ranges are served as before. The checks live in the validator, so the fast and exhaustive paths agree."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from estimation_engine.api.http_io import parse_json
from estimation_engine.api.schema_decoding import SchemaDecoder
from estimation_engine.api.validation import BatchValidator, InvalidInputError
from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import TRAINING_RANGES, Estimates
from tests.conftest import RegisteredModels
from tests.estimation_engine.api.test_schema_decoding import without_ranges


@pytest.fixture(scope="module")
def card(reference_models, registered_models):
    return reference_models[registered_models.versions[0]].card


@pytest.fixture
def row(registered_models: RegisteredModels) -> dict:
    return dict(registered_models.sample_rows[1])  # inside every range of the served model


def validator(card) -> BatchValidator:
    return BatchValidator(card, UnknownCategoryPolicy.WARN)


def seen(card, name: str) -> str:
    bounds = card.training_ranges()[name]
    return f"the range seen in training ({bounds.minimum:.10g} to {bounds.maximum:.10g})"


def test_a_value_outside_the_training_range_is_accepted_with_a_warning_naming_field_value_and_range(
    card, row
):
    above = card.training_ranges()["Gr_Liv_Area"].maximum + 1
    batch = validator(card).validate([row, {**row, "Gr_Liv_Area": above}], "properties")
    assert batch.warnings == [
        [],
        [f"Gr_Liv_Area: {above:.10g} is outside {seen(card, 'Gr_Liv_Area')}; the estimate extrapolates"],
    ]
    assert batch.out_of_range == {"Gr_Liv_Area": [1]}


def test_the_training_extremes_and_missing_values_are_not_out_of_range(card, row):
    bounds = card.training_ranges()["Lot_Frontage"]
    rows = [{**row, "Lot_Frontage": bounds.minimum}, {**row, "Lot_Frontage": bounds.maximum}]
    rows.append({**row, "Lot_Frontage": None})
    batch = validator(card).validate(rows, "properties")
    assert batch.warnings == [[], [], []] and batch.out_of_range == {}


@pytest.mark.parametrize("value", [1e16, -1e16])
def test_a_value_far_outside_the_training_range_is_refused_naming_the_field_and_what_is_taken(
    card, row, value
):
    with pytest.raises(InvalidInputError) as raised:
        validator(card).validate([row, {**row, "Gr_Liv_Area": value}], "properties")
    (problem,) = raised.value.problems
    assert problem.field == "properties[1].Gr_Liv_Area"
    assert problem.message.startswith(
        f"{value:.10g} is too far outside {seen(card, 'Gr_Liv_Area')} to estimate"
    )
    assert "this model takes Gr_Liv_Area from " in problem.message


def test_a_feature_always_zero_in_training_is_warned_about_never_refused(card, row):
    """300 rows may hold no pool at all; a house with one is still a house (found by the fast-path tests)."""
    zero = {"minimum": 0.0, "maximum": 0.0, "q001": 0.0, "q999": 0.0, "rows": 300}
    pools = replace(
        card, extra={**card.extra, TRAINING_RANGES: {**card.extra[TRAINING_RANGES], "Pool_Area": zero}}
    )
    batch = validator(pools).validate([{**row, "Pool_Area": 444}], "properties")
    assert batch.warnings == [
        ["Pool_Area: 444 is outside the range seen in training (0 to 0); the estimate extrapolates"]
    ]


def test_a_model_trained_before_ranges_were_recorded_neither_warns_nor_refuses(card, row):
    batch = validator(without_ranges(card)).validate([{**row, "Gr_Liv_Area": 1e16}], "properties")
    assert batch.warnings == [[]] and batch.out_of_range == {}
    answer = Estimates(np.array([1e-300]), np.array([1e-301]), np.array([1e-299]))
    assert validator(without_ranges(card)).unestimable_rows(answer) == []  # only a non-price is refused


@pytest.mark.parametrize(
    "changes",
    [
        {"Gr_Liv_Area": 1e5},  # warned
        {"Gr_Liv_Area": 1e5, "Lot_Area": -1.0, "Neighborhood": "Atlantis"},  # warnings in signature order
        {"Gr_Liv_Area": 1e16},  # refused
    ],
)
def test_the_fast_and_the_exhaustive_path_agree_on_range_warnings_and_refusals(card, row, changes):
    checks = validator(card)
    body = json.dumps({"properties": [row, {**row, **changes}]}).encode()
    outcomes = []
    for decode in (
        SchemaDecoder(card, "properties", checks, 1000).decode,
        lambda raw: checks.validate(parse_json(raw)["properties"], "properties"),
    ):
        try:
            batch = decode(body)
            outcomes.append((batch.warnings, batch.out_of_range))
        except InvalidInputError as error:
            outcomes.append(error.problems)
    assert outcomes[0] == outcomes[1]


def test_an_answer_that_is_no_price_is_found_and_blamed_on_the_fields_outside_the_range(card, row):
    checks = validator(card)
    batch = checks.validate([row, {**row, "Year_Built": 2500.0}, row, row, row], "data")
    prices = card.target_range()
    price = np.array([2e5, 1e13, np.inf, 0.0, prices.maximum * 10])
    rows = checks.unestimable_rows(Estimates(price, price * 0.9, price * 1.1))
    assert rows == [1, 2, 3]  # ten times the dearest training price is still an answer
    problems = checks.unestimable(batch, Estimates(price, price * 0.9, price * 1.1), rows, "data")
    assert [problem.field for problem in problems] == ["data[1].Year_Built", "data[2]", "data[3]"]
    assert problems[0].message == (
        "the model cannot estimate this property: its answer (1e+13) is over 10 times beyond the training "
        f"prices ({prices.minimum:.10g} to {prices.maximum:.10g}): 2500 is outside {seen(card, 'Year_Built')}"
    )
    assert (
        problems[2].message
        == "the model cannot estimate this property: its answer (0) is not a finite positive price"
    )


@pytest.mark.parametrize(("path", "key"), [("/v1/estimate", "properties"), ("/score", "data")])
def test_a_living_area_of_1e16_is_refused_with_a_422_naming_the_field(http, row, path, key):
    answer = http.post(path, json={key: [row, {**row, "Gr_Liv_Area": 1e16}]})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert (
        error["field"] == f"{key}[1].Gr_Liv_Area"
        and "too far outside the range seen in training" in error["message"]
    )


def test_a_value_outside_the_range_is_estimated_with_its_warning_and_counted_on_metrics(http, row, card):
    def counted() -> float:
        lines = http.get("/metrics").text.splitlines()
        prefix = 'engine_out_of_range_values_total{feature="Gr_Liv_Area"} '
        return sum(float(line.removeprefix(prefix)) for line in lines if line.startswith(prefix))

    before = counted()
    answer = http.post("/v1/estimate", json={"properties": [row, {**row, "Gr_Liv_Area": 100000}]})
    assert answer.status_code == 200, answer.text
    inside, outside = answer.json()["estimates"]
    assert inside["warnings"] == []
    assert outside["warnings"] == [
        f"Gr_Liv_Area: 100000 is outside {seen(card, 'Gr_Liv_Area')}; the estimate extrapolates"
    ]
    assert np.isfinite(outside["price"]) and outside["price"] > 0
    assert counted() == before + 1


@pytest.mark.parametrize(
    ("feature", "value", "answer"),
    [("Gr_Liv_Area", -1000, "is not a finite positive price"), ("Year_Built", 3000, "over 10 times beyond")],
)
def test_an_answer_that_is_no_price_is_a_422_naming_the_field_outside_the_range(
    http, row, card, feature, value, answer
):
    response = http.post("/v1/estimate", json={"properties": [row, {**row, feature: value}]})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["message"] == "1 properties could not be estimated"
    (error,) = body["errors"]
    assert error["field"] == f"properties[1].{feature}"
    assert answer in error["message"] and error["message"].endswith(
        f": {value} is outside {seen(card, feature)}"
    )


def test_the_openapi_property_schema_shows_each_numeric_feature_s_training_range(http, card):
    schema = http.get("/openapi.json").json()["components"]["schemas"]["Property"]["properties"]
    bounds = card.training_ranges()["Gr_Liv_Area"]
    assert (
        f"Seen in training: {bounds.minimum:.10g} to {bounds.maximum:.10g}."
        in schema["Gr_Liv_Area"]["description"]
    )
