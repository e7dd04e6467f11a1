"""The estimate routes over real HTTP: shapes, numbers identical to the training code's, warnings, limits."""

from __future__ import annotations

import concurrent.futures
from dataclasses import asdict

import jsonschema
import numpy as np
import pytest

from tests.conftest import RegisteredModels


def test_estimate_returns_price_interval_and_model_identity_matching_the_training_code(
    http, registered_models: RegisteredModels, reference_models
):
    rows = list(registered_models.sample_rows)
    answer = http.post("/v1/estimate", json={"properties": rows})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    version = registered_models.versions[0]
    assert body["model"] == {"name": registered_models.model_name, "version": version}
    assert answer.headers["x-model-version"] == str(version)
    reference = reference_models[version]
    expected = reference.estimate(reference.frame(rows))
    prices = [item["price"] for item in body["estimates"]]
    assert prices == expected.price.tolist()
    assert [item["interval"]["low"] for item in body["estimates"]] == expected.low.tolist()
    assert [item["interval"]["high"] for item in body["estimates"]] == expected.high.tolist()
    ranges = reference.card.training_ranges()
    for row, item in zip(rows, body["estimates"], strict=True):
        assert item["interval"]["coverage"] == reference.card.nominal_coverage
        assert item["interval"]["low"] < item["price"] < item["interval"]["high"]
        # These real sales are not all inside the range of the 300-odd rows the test model learned from.
        outside = [
            n for n, seen in ranges.items() if not seen.minimum <= row.get(n, seen.minimum) <= seen.maximum
        ]
        assert [warning.split(":")[0] for warning in item["warnings"]] == outside


def test_optional_features_may_be_missing_or_null(
    http, registered_models: RegisteredModels, reference_models
):
    card = reference_models[registered_models.versions[0]].card
    required = {f.name for f in card.features if f.required}
    row = registered_models.sample_rows[0]
    minimal = {key: value for key, value in row.items() if key in required}
    with_nulls = {**minimal, **{f.name: None for f in card.features if not f.required}}
    answer = http.post("/v1/estimate", json={"properties": [minimal, with_nulls]})
    assert answer.status_code == 200, answer.text
    first, second = (item["price"] for item in answer.json()["estimates"])
    assert first == second and np.isfinite(first)


def test_unknown_category_is_accepted_with_a_warning_naming_the_feature(
    http, registered_models: RegisteredModels
):
    row = {**registered_models.sample_rows[0], "Neighborhood": "Atlantis"}
    answer = http.post("/v1/estimate", json={"properties": [registered_models.sample_rows[0], row]})
    assert answer.status_code == 200, answer.text
    known, unknown = answer.json()["estimates"]
    (added,) = [warning for warning in unknown["warnings"] if warning not in known["warnings"]]
    assert "Neighborhood" in added and "Atlantis" in added
    assert np.isfinite(unknown["price"])


def test_score_route_speaks_the_azure_ml_payload(http, registered_models: RegisteredModels, reference_models):
    rows = list(registered_models.sample_rows)
    answer = http.post("/score", json={"data": rows})
    assert answer.status_code == 200, answer.text
    reference = reference_models[registered_models.versions[0]]
    assert answer.json() == {"result": reference.estimate(reference.frame(rows)).price.tolist()}


@pytest.mark.parametrize(("path", "field"), [("/v1/estimate", "properties"), ("/score", "data")])
def test_batch_over_the_limit_is_refused_with_413_naming_the_route_s_field(
    http, registered_models: RegisteredModels, path, field
):
    rows = [registered_models.sample_rows[0]] * 1001
    answer = http.post(path, json={field: rows})
    assert answer.status_code == 413
    limit = "1001 items, over the limit of 1000 per request"
    assert answer.json()["message"] == f"{field}: {limit}"
    assert answer.json()["errors"] == [{"field": field, "message": limit}]


def test_a_full_batch_at_the_limit_is_estimated(http, registered_models: RegisteredModels, reference_models):
    rows = [registered_models.sample_rows[i % len(registered_models.sample_rows)] for i in range(1000)]
    answer = http.post("/v1/estimate", json={"properties": rows})
    assert answer.status_code == 200, answer.text
    reference = reference_models[registered_models.versions[0]]
    prices = [item["price"] for item in answer.json()["estimates"]]
    np.testing.assert_allclose(prices, reference.estimate(reference.frame(rows)).price, rtol=1e-12)


def test_concurrent_requests_each_get_their_own_estimates(
    engine, registered_models: RegisteredModels, reference_models
):
    """Requests coalesced into one model call must come back to the right caller, in the right order."""
    rows = list(registered_models.sample_rows)
    reference = reference_models[registered_models.versions[0]]
    expected = {i: reference.estimate(reference.frame([rows[i]])).price[0] for i in range(len(rows))}

    def ask(index: int) -> tuple[int, float]:
        with engine.client() as client:
            answer = client.post("/v1/estimate", json={"properties": [rows[index]]})
            assert answer.status_code == 200, answer.text
            return index, answer.json()["estimates"][0]["price"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(ask, [i % len(rows) for i in range(40)]))
    for index, price in results:
        assert price == pytest.approx(expected[index], rel=1e-12)


def test_model_description_carries_version_metrics_run_and_signature(
    http, registered_models: RegisteredModels, reference_models
):
    answer = http.get("/v1/model")
    assert answer.status_code == 200
    body = answer.json()
    version = registered_models.versions[0]
    card = reference_models[version].card
    assert (body["name"], body["version"]) == (registered_models.model_name, version)
    assert body["metrics"] == dict(card.metrics) and "rmse_log" in body["metrics"]
    assert body["training_run"]["run_id"]
    assert body["nominal_coverage"] == card.nominal_coverage
    assert body["evaluation"] == "fast-path", (
        "the training code's model must be served by the verified fast path"
    )
    features = {f["name"]: f for f in body["signature"]["features"]}
    assert list(features) == card.feature_names
    assert (
        features["Neighborhood"]["type"] == "categorical"
        and "North_Ames" in features["Neighborhood"]["categories"]
    )
    seen = asdict(card.training_ranges()["Gr_Liv_Area"])
    assert features["Gr_Liv_Area"] == {
        "name": "Gr_Liv_Area", "type": "numeric", "required": True, "training_range": seen
    }  # fmt: skip


def test_openapi_request_schema_shows_the_model_features(http, reference_models, registered_models):
    schemas = http.get("/openapi.json").json()["components"]["schemas"]
    card = reference_models[registered_models.versions[0]].card
    prop = schemas["Property"]
    assert set(prop["properties"]) == set(card.feature_names)
    assert set(prop["required"]) == {f.name for f in card.features if f.required}
    assert prop["additionalProperties"] is False
    assert schemas["EstimateRequest"]["properties"]["properties"]["maxItems"] == 1000
    assert http.get("/docs").status_code == 200


def test_the_documented_property_schema_is_the_contract_the_decoder_applies(http, registered_models):
    """The docs' Property schema comes from the struct that decodes requests: what it accepts, the engine
    answers; what it refuses (an unknown key, a required feature missing) the engine refuses."""
    schema = http.get("/openapi.json").json()["components"]["schemas"]["Property"]
    documented = jsonschema.Draft202012Validator(schema)
    row = dict(registered_models.sample_rows[0])
    required = schema["required"][0]
    bodies = {
        "as sampled": (row, 200),
        "an unknown key": ({**row, "Not_A_Feature": 1}, 422),
        "a required feature missing": ({k: v for k, v in row.items() if k != required}, 422),
        "a required feature null": ({**row, required: None}, 422),
    }
    for name, (body, status) in bodies.items():
        assert documented.is_valid(body) is (status == 200), name
        assert http.post("/v1/estimate", json={"properties": [body]}).status_code == status, name
    optional = [name for name in schema["properties"] if name not in schema["required"]]
    assert optional and all(schema["properties"][name]["default"] is None for name in optional)
