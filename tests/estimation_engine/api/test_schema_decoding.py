"""The schema-compiled decoder gives exactly what the exhaustive path gives, or steps aside for it."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from estimation_engine.api.http_io import parse_json
from estimation_engine.api.schema_decoding import SchemaDecoder, TooManyItemsError
from estimation_engine.api.validation import BatchValidator, InvalidInputError, ValidatedBatch
from estimation_engine.settings import UnknownCategoryPolicy
from model_contract.artifact import TARGET_RANGE, TRAINING_RANGES, ModelCard
from tests.estimation_engine.conftest import body_with


@pytest.fixture(scope="module")
def card(reference_models):
    """The model's card without its training ranges: these tests feed numbers of every size to compare the
    decoding itself; test_out_of_range.py compares the two paths on the range checks."""
    return without_ranges(next(iter(reference_models.values())).card)


def without_ranges(card: ModelCard) -> ModelCard:
    extra = {key: value for key, value in card.extra.items() if key not in (TRAINING_RANGES, TARGET_RANGE)}
    return replace(card, extra=extra)


def decoders(card, policy=UnknownCategoryPolicy.WARN, limit=1000) -> tuple[SchemaDecoder, BatchValidator]:
    validator = BatchValidator(card, policy)
    return SchemaDecoder(card, "properties", validator, limit), validator


def exhaustive(validator: BatchValidator, body: bytes) -> ValidatedBatch:
    return validator.validate(parse_json(body)["properties"], "properties")


def assert_same_batch(fast: ValidatedBatch, slow: ValidatedBatch) -> None:
    assert fast.size == slow.size
    assert list(fast.columns) == list(slow.columns)
    for name, column in slow.columns.items():
        if column.dtype == object:
            assert pd.Series(fast.columns[name]).equals(pd.Series(column)), name  # NaN equals NaN here
            # ... and None equals NaN there: a missing category must be the same object on both paths
            assert list(map(type, fast.columns[name])) == list(map(type, column)), name
        else:
            assert fast.columns[name].dtype == np.float64
            assert np.array_equal(fast.columns[name], column, equal_nan=True), name
            # -0.0 and 0.0 compare equal: the signs must agree too
            assert np.array_equal(np.signbit(fast.columns[name]), np.signbit(column)), name
    assert fast.warnings == slow.warnings
    assert fast.unknown_categories == slow.unknown_categories
    assert fast.out_of_range == slow.out_of_range


def varied_rows(ames: pd.DataFrame, card, count: int, seed: int) -> list[dict]:
    """Real sales written every way a client may: ints and floats, nulls, absent optional features,
    unseen levels, negative zero, large and tiny numbers, non-ASCII text."""
    generator = np.random.default_rng(seed)
    records = ames.drop(columns="Sale_Price").sample(n=count, random_state=seed).to_dict("records")
    optional = [f for f in card.features if not f.required]
    numeric = [f.name for f in card.features if f.kind == "numeric"]
    categorical = [f.name for f in card.features if f.kind == "categorical"]
    rows = []
    for record in records:
        row = {k: v for k, v in record.items() if pd.notna(v)}
        for feature in optional:
            draw = generator.random()
            if draw < 0.1:
                row.pop(feature.name, None)
            elif draw < 0.15:
                row[feature.name] = None
        name = numeric[generator.integers(len(numeric))]
        row[name] = [-0.0, 0, 10**30, 1e-300, 2**53 + 1, 0.1 + 0.2, 123456789.123456789][
            generator.integers(7)
        ]
        row[categorical[generator.integers(len(categorical))]] = ["Spaceship_Hull", "Ünïcödé", ""][
            generator.integers(3)
        ]
        rows.append(row)
    return rows


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_equals_the_exhaustive_path_on_varied_valid_bodies(card, ames, seed):
    decoder, validator = decoders(card)
    body = json.dumps({"properties": varied_rows(ames, card, 60, seed)}).encode()
    fast = decoder.decode(body)
    assert fast is not None, "a valid body must take the fast path"
    assert_same_batch(fast, exhaustive(validator, body))


def quiet_rows(ames: pd.DataFrame, card: ModelCard, count: int, seed: int) -> list[dict]:
    """Real sales with nothing to warn about: numbers inside the training ranges, known levels only; some
    optional categories null and some absent (both are missing)."""
    generator = np.random.default_rng(seed)
    ranges = card.training_ranges()
    optional = [f.name for f in card.features if not f.required and f.kind == "categorical"]
    rows = []
    for record in ames.drop(columns="Sale_Price").sample(n=count, random_state=seed).to_dict("records"):
        row = {}
        for feature in card.features:
            value = record.get(feature.name)
            if pd.isna(value) or (feature.kind == "categorical" and value not in feature.categories):
                continue
            if feature.name in ranges:
                value = min(max(value, ranges[feature.name].minimum), ranges[feature.name].maximum)
            row[feature.name] = value
        for name in generator.choice(optional, size=4, replace=False):
            if generator.random() < 0.5:
                row[name] = None
            else:
                row.pop(name, None)
        rows.append(row)
    return rows


@pytest.mark.parametrize("seed", range(3))
def test_a_body_with_nothing_to_warn_about_gives_the_exhaustive_paths_batch(reference_models, ames, seed):
    """The batch checked all at once (no value outside a range, no unknown level) is the batch checked
    feature by feature: the same columns, missing categories as NaN, no warning."""
    card = next(iter(reference_models.values())).card
    decoder, validator = decoders(card)
    body = json.dumps({"properties": quiet_rows(ames, card, 40, seed)}).encode()
    fast = decoder.decode(body)
    assert fast is not None
    assert fast.warnings == [[]] * 40
    slow = exhaustive(validator, body)
    assert_same_batch(fast, slow)
    assert any(pd.isna(column).any() for column in slow.columns.values() if column.dtype == object)


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_a_model_of_one_kind_of_feature_only_decodes_on_both_paths(reference_models, ames, kind):
    """No categorical feature (or no numeric one): the checks all at once still apply, on several rows."""
    full = next(iter(reference_models.values())).card
    ranged = full if kind == "numeric" else without_ranges(full)  # ranges name numeric features only
    card = replace(ranged, features=tuple(f for f in full.features if f.kind == kind))
    decoder, validator = decoders(card)
    names = {f.name for f in card.features}
    rows = [{k: v for k, v in row.items() if k in names} for row in quiet_rows(ames, full, 3, 0)]
    body = json.dumps({"properties": rows}).encode()
    fast = decoder.decode(body)
    assert fast is not None
    assert_same_batch(fast, exhaustive(validator, body))


def test_integers_written_as_integers_and_as_floats_give_the_same_column(card, ames):
    decoder, _ = decoders(card)
    row = varied_rows(ames, card, 1, 0)[0]
    as_floats = {k: float(v) if isinstance(v, int) else v for k, v in row.items()}
    one = decoder.decode(json.dumps({"properties": [row]}).encode())
    other = decoder.decode(json.dumps({"properties": [as_floats]}).encode())
    assert_same_batch(one, other)


def test_duplicate_keys_keep_the_last_value_on_both_paths(card, ames):
    decoder, validator = decoders(card)
    body = b'{"properties": [{"Lot_Area": 1, "Lot_Area": 2, "Neighborhood": "North_Ames", ' + (
        b'"Year_Built": 1990, "Gr_Liv_Area": 1500}]}'
    )
    fast = decoder.decode(body)
    assert fast is not None and fast.columns["Lot_Area"].tolist() == [2.0]
    assert_same_batch(fast, exhaustive(validator, body))


@pytest.mark.parametrize(
    "mutation",
    [
        {"Lot_Area": "big"},  # wrong type
        {"Lot_Area": True},  # a boolean is not a number
        {"Neighborhood": 3},  # a number is not a category
        {"Lot_Area": None},  # a required feature cannot be null
        {"Pool_Size": 1},  # unknown feature
    ],
)
def test_bodies_the_schema_refuses_go_to_the_exhaustive_path(card, ames, mutation):
    decoder, validator = decoders(card)
    row = {**varied_rows(ames, card, 1, 1)[0], **mutation}
    body = json.dumps({"properties": [row]}).encode()
    assert decoder.decode(body) is None
    with pytest.raises((InvalidInputError, ValueError)):
        exhaustive(validator, body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"properties": [{"Lot_Area": NaN}]}',
        b'{"properties": []}',
        b'{"properties": [], "extra": 1}',
        b'{"data": []}',
        b"[1, 2]",
        b'{"properties": [{}',
        b'\xef\xbb\xbf{"properties": []}',
    ],
)
def test_malformed_empty_or_misshapen_bodies_go_to_the_exhaustive_path(card, body):
    decoder, _ = decoders(card)
    assert decoder.decode(body) is None


def test_a_missing_required_feature_goes_to_the_exhaustive_path(card, ames):
    decoder, _ = decoders(card)
    row = varied_rows(ames, card, 1, 2)[0]
    row.pop("Neighborhood")
    assert decoder.decode(json.dumps({"properties": [row]}).encode()) is None


def test_a_batch_over_the_limit_is_refused_with_its_size(card, ames):
    decoder, _ = decoders(card, limit=3)
    body = json.dumps({"properties": varied_rows(ames, card, 4, 3)}).encode()
    with pytest.raises(TooManyItemsError) as raised:
        decoder.decode(body)
    assert raised.value.count == 4


def test_unknown_category_is_refused_on_the_fast_path_when_the_engine_is_strict(card, ames):
    decoder, _ = decoders(card, UnknownCategoryPolicy.REJECT)
    row = {**varied_rows(ames, card, 1, 4)[0], "Exterior_1st": "Spaceship_Hull"}
    with pytest.raises(InvalidInputError) as raised:
        decoder.decode(json.dumps({"properties": [row, row]}).encode())
    fields = [problem.field for problem in raised.value.problems]
    assert "properties[0].Exterior_1st" in fields and "properties[1].Exterior_1st" in fields


def test_the_score_route_key_is_decoded_by_its_own_decoder(card, ames):
    validator = BatchValidator(card, UnknownCategoryPolicy.WARN)
    decoder = SchemaDecoder(card, "data", validator, 10)
    rows = varied_rows(ames, card, 2, 5)
    assert decoder.decode(json.dumps({"data": rows}).encode()).size == 2
    assert decoder.decode(json.dumps({"properties": rows}).encode()) is None


@pytest.mark.parametrize(
    "members",
    [
        b'"Lot_Area": -0, "Mas_Vnr_Area": -0.0',
        b'"Lot_Area": 18446744073709551617, "Mas_Vnr_Area": 1E+2',
        b'"Lot_Area": 1.00000000000000011102230246251565404236316680908203125',
        b'"Street": "Pa\\u0076e", "Alley": "\\u00dcml\\u00e4ut \\"q\\" \\\\ \\/"',
        b'"Street": "\\ud83c\\udfe0"',
    ],
)
def test_literals_json_dumps_never_writes_give_the_same_batch_on_both_paths(card, ames, members):
    decoder, validator = decoders(card)
    body = body_with(varied_rows(ames, card, 1, 6)[0], members)
    fast = decoder.decode(body)
    assert fast is not None
    assert_same_batch(fast, exhaustive(validator, body))


@pytest.mark.parametrize(
    "members",
    [b'"Lot_Area": 1e400', b'"Street": "\xff"', b'"\xc3": 1', b'"Gr\\u00fcn": 1', b'"Lot_Area": Infinity'],
)
def test_out_of_range_numbers_invalid_utf8_and_unknown_keys_take_the_exhaustive_path(card, ames, members):
    decoder, _ = decoders(card)
    assert decoder.decode(body_with(varied_rows(ames, card, 1, 7)[0], members)) is None


def test_a_large_body_is_counted_before_its_items_are_built(card, monkeypatch):
    monkeypatch.setattr("estimation_engine.api.schema_decoding.COUNT_FIRST_BYTES", 100)
    decoder, _ = decoders(card, limit=10)
    with pytest.raises(TooManyItemsError) as raised:  # refused though no item is a valid property
        decoder.decode(json.dumps({"properties": [{}] * 50}).encode())
    assert raised.value.count == 50
    assert decoder.decode(json.dumps({"properties": [{}] * 5}).encode()) is None  # within the limit
