"""``python -m estimation_engine batch``: the HTTP path's numbers and warnings, row refusals, bad input."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq


def _features(http) -> list[str]:
    return [feature["name"] for feature in http.get("/v1/model").json()["signature"]["features"]]


def _as_property(row: pd.Series, features: list[str]) -> dict:
    return {name: row[name] for name in features if name in row and not pd.isna(row[name])}


def test_batch_rows_equal_the_http_answers_exactly(run_batch, portfolio, http, tmp_path: Path):
    portfolio.loc[3, "Neighborhood"] = "Atlantis"  # a warning, as the API gives it
    source = tmp_path / "portfolio.csv"
    portfolio.to_csv(source, index=False)
    result = run_batch(source)
    assert result.code == 0, result.err
    estimates = result.estimates()
    features = _features(http)
    body = {"properties": [_as_property(row, features) for _, row in portfolio.iterrows()]}
    answer = http.post("/v1/estimate", json=body)
    assert answer.status_code == 200, answer.text
    expected = answer.json()["estimates"]
    assert estimates["id"].tolist() == portfolio["id"].tolist()
    assert estimates["row"].tolist() == list(range(1, len(portfolio) + 1))
    assert estimates["price"].tolist() == [item["price"] for item in expected]
    assert estimates["low"].tolist() == [item["interval"]["low"] for item in expected]
    assert estimates["high"].tolist() == [item["interval"]["high"] for item in expected]
    assert [list(w) for w in estimates["warnings"]] == [item["warnings"] for item in expected]
    assert expected[3]["warnings"] and "Atlantis" in expected[3]["warnings"][0]
    assert len(result.refusals()) == 0
    assert "rows read: 200" in result.out and "estimated: 200" in result.out and "refused: 0" in result.out
    assert "Sale_Price" in result.out  # named among the columns the model does not use


def test_parquet_in_small_chunks_gives_the_csv_rows_and_numbers(run_batch, portfolio, tmp_path: Path):
    """Same rows in the same order, same numbers; only to the last bits, because the linear member's BLAS
    dot product sums differently for different batch shapes (estimation_engine/model/scoring.py says so
    for the engine's own coalesced requests)."""
    csv, parquet = tmp_path / "portfolio.csv.gz", tmp_path / "portfolio.parquet"
    portfolio.to_csv(csv, index=False)
    portfolio.to_parquet(parquet, index=False)
    from_csv = run_batch(csv)
    assert from_csv.code == 0, from_csv.err
    csv_estimates = from_csv.estimates()
    from_parquet = run_batch(parquet, "--rows-per-chunk", "37")
    assert from_parquet.code == 0, from_parquet.err
    parquet_estimates = from_parquet.estimates()
    assert pq.ParquetFile(from_parquet.output).metadata.num_row_groups > 1
    for column in ("id", "row"):
        assert parquet_estimates[column].tolist() == csv_estimates[column].tolist()
    for column in ("price", "low", "high"):
        np.testing.assert_allclose(parquet_estimates[column], csv_estimates[column], rtol=1e-13, atol=0)


def test_bad_rows_are_refused_with_the_validators_reasons_and_the_rest_estimated(
    run_batch, portfolio, tmp_path: Path
):
    frame = portfolio.head(10).astype({"Lot_Area": object, "Gr_Liv_Area": object, "Mas_Vnr_Area": object})
    frame.loc[2, "Mas_Vnr_Area"] = "big"  # an optional feature: not a number, so not "missing" either
    frame.loc[5, "Gr_Liv_Area"] = None  # a required feature
    frame.loc[7, "Lot_Area"] = "inf"
    source = tmp_path / "portfolio.csv"
    frame.to_csv(source, index=False)
    result = run_batch(source)
    assert result.code == 0, result.err
    refused = result.refusals()
    assert refused["row"].tolist() == [3, 6, 8]
    assert refused["id"].tolist() == ["P00002", "P00005", "P00007"]
    reasons = [list(r) for r in refused["reasons"]]
    assert reasons[0] == ["Mas_Vnr_Area: expected a number, got string"]
    assert reasons[1] == ["Gr_Liv_Area: required feature is missing"]
    assert reasons[2] == ["Lot_Area: number is out of range (not finite)"]
    estimates = result.estimates()
    assert estimates["row"].tolist() == [1, 2, 4, 5, 7, 9, 10]
    assert all(math.isfinite(price) for price in estimates["price"])
    assert "refused: 3" in result.out


def test_unknown_categories_are_refused_per_row_when_the_engine_refuses_them(
    run_batch, portfolio, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("ENGINE_UNKNOWN_CATEGORIES", "reject")
    frame = portfolio.head(5).copy()
    frame.loc[1, "Neighborhood"] = "Atlantis"
    source = tmp_path / "portfolio.parquet"
    frame.to_parquet(source, index=False)
    result = run_batch(source)
    assert result.code == 0, result.err
    refused = result.refusals()
    assert refused["row"].tolist() == [2]
    assert "Neighborhood: unknown category 'Atlantis'" in refused["reasons"][0][0]
    assert result.estimates()["row"].tolist() == [1, 3, 4, 5]


def test_a_missing_required_column_exits_2_naming_it_and_writes_nothing(run_batch, portfolio, tmp_path: Path):
    source = tmp_path / "portfolio.csv"
    portfolio.drop(columns=["Gr_Liv_Area"]).to_csv(source, index=False)
    result = run_batch(source)
    assert result.code == 2
    assert "--input" in result.err and "'Gr_Liv_Area'" in result.err and str(source) in result.err
    assert not result.output.exists() and not result.refused.exists()


def test_a_file_that_breaks_half_way_leaves_the_earlier_result_untouched(
    run_batch, portfolio, tmp_path: Path
):
    source = tmp_path / "portfolio.csv"
    portfolio.to_csv(source, index=False)
    first = run_batch(source)
    assert first.code == 0, first.err
    before = first.output.read_bytes()
    lines = source.read_text().splitlines()
    source.write_text("\n".join([*lines, *lines[1:]] * 300 + ["1,2,3"]) + "\n")  # a short line at the end
    broken = run_batch(source, "--rows-per-chunk", "1000")
    assert broken.code == 2
    assert str(source) in broken.err and "CSV" in broken.err
    assert first.output.read_bytes() == before
    assert [path.name for path in first.output.parent.iterdir() if path.name.endswith(".tmp")] == []


def test_missing_or_unreadable_files_exit_2_naming_the_file(run_batch, tmp_path: Path):
    missing = run_batch(tmp_path / "nowhere.csv")
    assert missing.code == 2 and "nowhere.csv does not exist" in missing.err
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    unreadable = run_batch(garbage)
    assert unreadable.code == 2 and "garbage.parquet is not a readable Parquet file" in unreadable.err
    assert not unreadable.output.exists()


def test_env_uses_the_version_its_overlay_pins_in_its_registry(
    run_batch, batch_env, portfolio, tmp_path: Path, monkeypatch
):
    checkout = tmp_path / "checkout"
    pin = checkout / "gitops/apps/estimation-engine/overlays/qa/model.env"
    pin.parent.mkdir(parents=True)
    version = batch_env.versions[1]
    pin.write_text(f"MODEL_NAME={batch_env.model_name}\nMODEL_VERSION={version}\n")
    monkeypatch.delenv("MODEL_NAME")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.setenv("MLFLOW_TRACKING_URI_QA", batch_env.tracking_uri)
    source = tmp_path / "portfolio.parquet"
    portfolio.head(20).to_parquet(source, index=False)
    result = run_batch(source, "--checkout", str(checkout), model=("--env", "qa"))
    assert result.code == 0, result.err
    assert f"model: {batch_env.model_name} v{version}" in result.out
    assert pq.read_schema(result.output).metadata[b"model_version"] == str(version).encode()
    pin.write_text(f"MODEL_NAME={batch_env.model_name}\nMODEL_VERSION=\n")
    unpinned = run_batch(source, "--checkout", str(checkout), model=("--env", "qa"))
    assert unpinned.code == 2 and "--env: qa pins no version" in unpinned.err


def test_no_id_column_numbers_rows_and_an_explicit_one_must_exist(run_batch, portfolio, tmp_path: Path):
    source = tmp_path / "portfolio.parquet"
    portfolio.drop(columns="id").head(5).to_parquet(source, index=False)
    result = run_batch(source)
    assert result.code == 0, result.err
    assert list(result.estimates().columns) == ["row", "price", "low", "high", "warnings"]
    named = run_batch(source, "--id-column", "parcel")
    assert named.code == 2 and "--id-column" in named.err and "'parcel'" in named.err
    assert np.array_equal(result.estimates()["row"], [1, 2, 3, 4, 5])


def test_a_row_whose_answer_is_no_price_is_refused_with_the_apis_422_reasons(
    run_batch, portfolio, http, tmp_path: Path
):
    """The engine refuses an estimate that is no price (a house built in the year 3000: the linear
    member's answer runs far beyond the training prices); the batch refuses that row with the same words."""
    frame = portfolio.head(5).copy()
    frame.loc[1, "Year_Built"] = 3000
    source = tmp_path / "portfolio.csv"
    frame.to_csv(source, index=False)
    result = run_batch(source)
    assert result.code == 0, result.err
    features = _features(http)
    [(_, row)] = list(frame.iloc[[1]].iterrows())
    answer = http.post("/v1/estimate", json={"properties": [_as_property(row, features)]})
    assert answer.status_code == 422, answer.text
    expected = [
        f"{error['field'].removeprefix('properties[0].')}: {error['message']}"
        for error in answer.json()["errors"]
    ]
    assert any(
        reason.startswith("Year_Built: the model cannot estimate this property") for reason in expected
    )
    refused = result.refusals()
    assert refused["row"].tolist() == [2]
    assert [list(r) for r in refused["reasons"]] == [expected]
    assert result.estimates()["row"].tolist() == [1, 3, 4, 5]
