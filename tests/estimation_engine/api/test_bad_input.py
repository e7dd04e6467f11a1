"""Bad input over real HTTP: a 4xx whose message names each offending field; never a 500, never a NaN."""

from __future__ import annotations

import json

import pytest

from tests.conftest import RegisteredModels
from tests.estimation_engine.conftest import body_with, engine_env


@pytest.fixture
def row(registered_models: RegisteredModels) -> dict:
    return dict(registered_models.sample_rows[0])


def post_raw(http, body: bytes | str, content_type: str = "application/json", path: str = "/v1/estimate"):
    return http.post(path, content=body, headers={"content-type": content_type})


def errors_of(answer) -> dict[str, str]:
    return {error["field"]: error["message"] for error in answer.json()["errors"]}


def test_unknown_feature_is_named(http, row):
    answer = http.post("/v1/estimate", json={"properties": [row, {**row, "Swimming_Pools": 2}]})
    assert answer.status_code == 422
    assert errors_of(answer) == {
        "properties[1].Swimming_Pools": "unknown feature: this model does not take it"
    }


@pytest.mark.parametrize(
    ("feature", "value", "message"),
    [
        ("Gr_Liv_Area", "1500", "expected a number, got string"),
        ("Gr_Liv_Area", True, "expected a number, got boolean"),
        ("Lot_Frontage", [1], "expected a number, got array"),
        ("Neighborhood", 7, "expected a string (one of the model's categories), got number"),
        ("Neighborhood", {"name": "x"}, "expected a string (one of the model's categories), got object"),
    ],
)
def test_wrong_type_is_named(http, row, feature, value, message):
    answer = http.post("/v1/estimate", json={"properties": [{**row, feature: value}]})
    assert answer.status_code == 422
    assert errors_of(answer) == {f"properties[0].{feature}": message}


@pytest.mark.parametrize(
    ("literal", "message"),
    [
        ("NaN", "non-finite number (NaN) is not allowed"),
        ("Infinity", "non-finite number (Infinity) is not allowed"),
        ("-Infinity", "non-finite number (-Infinity) is not allowed"),
        ("1e999", "number is out of range (not finite)"),
    ],
)
def test_non_finite_number_is_named(http, row, literal, message):
    text = json.dumps({"properties": [row]}).replace(
        '"Lot_Area": ' + json.dumps(row["Lot_Area"]), f'"Lot_Area": {literal}'
    )
    assert literal in text
    answer = post_raw(http, text)
    assert answer.status_code == 422
    assert errors_of(answer) == {"properties[0].Lot_Area": message}


def test_missing_required_feature_is_named(http, row):
    del row["Gr_Liv_Area"]
    answer = http.post("/v1/estimate", json={"properties": [row, {**row, "Neighborhood": None}]})
    assert answer.status_code == 422
    assert errors_of(answer) == {
        "properties[0].Gr_Liv_Area": "required feature is missing",
        "properties[1].Gr_Liv_Area": "required feature is missing",
        "properties[1].Neighborhood": "required feature is missing",
    }


def test_every_offending_field_of_a_batch_is_reported_at_once(http, row):
    answer = http.post(
        "/v1/estimate", json={"properties": [{**row, "Lot_Area": "big"}, 42, {**row, "Oops": 1, "Fence": 3}]}
    )
    assert answer.status_code == 422
    assert errors_of(answer) == {
        "properties[0].Lot_Area": "expected a number, got string",
        "properties[1]": "expected an object mapping feature names to values, got number",
        "properties[2].Oops": "unknown feature: this model does not take it",
        "properties[2].Fence": "expected a string (one of the model's categories), got number",
    }


def test_error_list_is_capped_for_huge_bad_batches(http, row):
    answer = http.post("/v1/estimate", json={"properties": [{**row, "Lot_Area": "x"}] * 500})
    assert answer.status_code == 422
    body = answer.json()
    assert len(body["errors"]) == 50 and body["errors_omitted"] == 450
    assert body["message"] == "500 invalid field(s)"


@pytest.mark.parametrize(
    ("document", "errors"),
    [
        ({"properties": []}, {"properties": "empty batch: send at least one property"}),
        (
            {"properties": {"Lot_Area": 1}},
            {"properties": "expected a list of properties (objects mapping feature names to values)"},
        ),
        ({"rows": []}, {"properties": "required field is missing", "rows": "unknown field"}),
        ([], {"body": "expected an object"}),
        ("just a string", {"body": "expected an object"}),
    ],
)
def test_wrong_document_shape_is_refused_naming_the_field(http, document, errors):
    answer = http.post("/v1/estimate", json=document)
    assert answer.status_code == 422
    assert errors_of(answer) == errors


def test_score_route_refuses_the_same_way_naming_data(http, row):
    answer = http.post("/score", json={"data": [{**row, "Lot_Area": "x"}]})
    assert answer.status_code == 422
    assert errors_of(answer) == {"data[0].Lot_Area": "expected a number, got string"}
    assert http.post("/score", json={"data": []}).status_code == 422
    assert errors_of(http.post("/score", json={"properties": [row]})) == {
        "data": "required field is missing",
        "properties": "unknown field",
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('{"properties": [', "malformed JSON"),
        ("", "request body is empty"),
        ("[" * 100_000 + "]" * 100_000, "malformed JSON: nested too deeply"),
        (b'{"properties": "\xff\xfe"}', "malformed JSON"),
    ],
)
def test_malformed_json_is_a_400(http, body, fragment):
    answer = post_raw(http, body)
    assert answer.status_code == 400
    assert fragment in answer.json()["message"]


@pytest.mark.parametrize("path, key", [("/v1/estimate", b"properties"), ("/score", b"data")])
def test_invalid_utf8_inside_a_property_is_a_400(http, row, path, key):
    answer = post_raw(http, body_with(row, b'"Street": "\xff"', key), path=path)
    assert answer.status_code == 400
    assert "not UTF-8" in answer.json()["message"]


def test_a_lone_surrogate_in_an_unknown_key_is_named_in_a_json_422(http, row):
    answer = post_raw(http, body_with(row, b'"\\ud800": 1'))
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "properties[0].\ud800", "message": "unknown feature: this model does not take it"}
    ]
    top_level = post_raw(http, b'{"properties": [], "\\udfff": 1}')
    assert top_level.status_code == 422 and top_level.json()["errors"][-1]["field"] == "\udfff"


def test_a_surrogate_written_as_raw_bytes_is_an_unknown_category_with_a_warning(http, row):
    answer = post_raw(http, body_with(row, b'"Street": "\xed\xa0\x80"'))
    assert answer.status_code == 200
    (estimate,) = answer.json()["estimates"]
    assert any(warning.startswith("Street: category") for warning in estimate["warnings"])


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_a_415(http, row, content_type):
    answer = post_raw(http, json.dumps({"properties": [row]}), content_type)
    assert answer.status_code == 415
    assert "Content-Type must be application/json" in answer.json()["message"]


def test_content_type_with_charset_is_accepted(http, row):
    assert (
        post_raw(http, json.dumps({"properties": [row]}), "application/json; charset=utf-8").status_code
        == 200
    )


def test_unknown_route_and_method_are_json_4xx(http):
    missing = http.get("/v2/estimate")
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert http.get("/v1/estimate").status_code == 405


def test_engine_still_serves_after_a_barrage_of_bad_requests(http, row):
    for body in ('{"properties": [', "[" * 50_000, '{"properties": [{"Lot_Area": NaN}]}', "\x00" * 1000):
        assert post_raw(http, body).status_code in (400, 422)
    assert http.post("/v1/estimate", json={"properties": [row]}).status_code == 200


@pytest.fixture
def strict_engine(engine_factory, registered_models: RegisteredModels, tmp_path):
    env = engine_env(
        registered_models,
        tmp_path / "cache",
        ENGINE_UNKNOWN_CATEGORIES="reject",
        ENGINE_MAX_BODY_BYTES="65536",
    )
    return engine_factory(env)


def test_unknown_category_is_refused_when_the_engine_is_strict(strict_engine, row):
    with strict_engine.client() as client:
        answer = client.post("/v1/estimate", json={"properties": [{**row, "Neighborhood": "Atlantis"}]})
        assert answer.status_code == 422
        assert errors_of(answer) == {
            "properties[0].Neighborhood": "unknown category 'Atlantis': not one of the levels seen in training"
        }
        schema = client.get("/openapi.json").json()["components"]["schemas"]["Property"]
        assert "North_Ames" in schema["properties"]["Neighborhood"]["enum"]


def test_body_over_the_byte_limit_is_a_413_whether_declared_or_streamed(strict_engine, row):
    big = json.dumps({"properties": [row] * 200}).encode()
    assert len(big) > 65536
    with strict_engine.client() as client:
        declared = client.post("/v1/estimate", content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413 and "65536 bytes" in declared.json()["message"]

        def chunks():
            for start in range(0, len(big), 8192):
                yield big[start : start + 8192]

        streamed = client.post("/v1/estimate", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413
        assert client.post("/v1/estimate", json={"properties": [row]}).status_code == 200
