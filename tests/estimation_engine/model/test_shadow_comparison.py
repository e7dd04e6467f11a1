"""The canary's shadow comparison: the engine also estimates with the version it replaces, answers with the
served one only, and exports what moved, as gitops/'s metric contract says."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import threading

import numpy as np
import pytest
import yaml

from estimation_engine.api.metrics import EngineMetrics
from estimation_engine.api.validation import BatchSource, BatchValidator, ValidatedBatch
from estimation_engine.model.model_loading import ModelLoadError, ServedModel
from estimation_engine.model.scoring import Scorer
from estimation_engine.model.shadow import QUEUE_BYTES, QUEUE_LIMIT, ShadowComparison
from estimation_engine.model.shadow_process import columns_to_fill
from estimation_engine.settings import EngineSettings, UnknownCategoryPolicy
from model_contract.artifact import Estimates
from tests.conftest import REPO_ROOT
from tests.estimation_engine.conftest import engine_env
from tests.estimation_engine.model.conftest import (
    WAIT_BOUND,
    drained,
    labels,
    shadow_samples,
    wait_compared,
    wait_settled,
)

CONTRACT = REPO_ROOT / "gitops/apps/estimation-engine/analysis/metric-contract.yaml"
THRESHOLDS = ("0.05", "0.1", "0.2")


def test_every_estimated_property_is_compared_with_the_previous_model_as_the_contract_says(
    shadow_engine, registered_models, reference_models
):
    served, previous = registered_models.versions
    rows = list(registered_models.sample_rows)
    with shadow_engine.client() as http:
        before = shadow_samples(http)
        answer = http.post("/v1/estimate", json={"properties": rows})
        assert answer.status_code == 200
        key = labels(registered_models)
        after = wait_compared(
            http,
            f"engine_shadow_compared_total{{{key}}}",
            before[f"engine_shadow_compared_total{{{key}}}"] + 5,
        )
    new = reference_models[served].estimate(reference_models[served].frame(rows))
    old = reference_models[previous].estimate(reference_models[previous].frame(rows))
    expected_ratio = np.abs(np.log(new.price / old.price))
    expected_width = (new.high - new.low) / (old.high - old.low)

    def grew(name: str) -> float:
        return after[name] - before.get(name, 0.0)

    for threshold in THRESHOLDS:
        moved = f'engine_shadow_moved_total{{{key},threshold="{threshold}"}}'
        assert grew(moved) == int(np.count_nonzero(expected_ratio > float(threshold))), threshold
    assert grew(f"engine_shadow_abs_log_ratio_count{{{key}}}") == 5
    assert math.isclose(grew(f"engine_shadow_abs_log_ratio_sum{{{key}}}"), expected_ratio.sum(), rel_tol=1e-9)
    assert math.isclose(
        grew(f"engine_shadow_interval_width_ratio_sum{{{key}}}"), expected_width.sum(), rel_tol=1e-9
    )


def test_the_shadow_series_have_the_contracts_names_labels_and_buckets(shadow_engine, registered_models):
    contract = {spec["name"]: spec for spec in yaml.safe_load(CONTRACT.read_text())["series"]}
    with shadow_engine.client() as http:
        found = shadow_samples(http)
    key = labels(registered_models)
    for name in ("engine_shadow_abs_log_ratio", "engine_shadow_interval_width_ratio"):
        buckets = [float(b) for b in contract[name]["buckets"]]
        exported = sorted(
            float(sample.split('le="')[1].split('"')[0])
            for sample in found
            if sample.startswith(f"{name}_bucket{{") and key in sample and 'le="+Inf"' not in sample
        )
        assert exported == buckets, name
    assert f"engine_shadow_compared_total{{{key}}}" in found
    for threshold in THRESHOLDS:
        assert f'engine_shadow_moved_total{{{key},threshold="{threshold}"}}' in found
    assert contract["engine_shadow_moved_total"]["labels"] == ["model_version", "shadow_version", "threshold"]
    assert contract["engine_shadow_load_failures_total"]["labels"] == ["reason"]


def test_the_answer_is_the_served_models_alone_with_or_without_the_shadow(
    shadow_engine, engine, registered_models
):
    body = {"properties": list(registered_models.sample_rows)}
    with shadow_engine.client() as with_shadow, engine.client() as without:
        compared, plain = with_shadow.post("/v1/estimate", json=body), without.post("/v1/estimate", json=body)
        assert compared.status_code == plain.status_code == 200
        assert compared.json() == plain.json()
        assert compared.headers["x-model-version"] == str(registered_models.versions[0])
        scored = with_shadow.post("/score", json={"data": body["properties"]})
        assert scored.json() == without.post("/score", json={"data": body["properties"]}).json()


def test_the_model_description_says_which_version_the_canary_compares_with(shadow_engine, registered_models):
    wait_settled(shadow_engine)
    with shadow_engine.client() as http:
        described = http.get("/v1/model").json()
    assert described["version"] == registered_models.versions[0]
    assert described["shadow"] == {
        "version": registered_models.versions[1],
        "share": 1.0,
        "state": "comparing",
    }


def test_without_a_shadow_version_no_shadow_series_exist(engine, http, registered_models):
    http.post("/v1/estimate", json={"properties": list(registered_models.sample_rows)})
    assert engine.state.shadow is None
    assert shadow_samples(http) == {}
    assert http.get("/v1/model").json()["shadow"] is None


def test_a_shadow_version_equal_to_the_served_one_is_no_comparison(
    engine_factory, registered_models, tmp_path
):
    served = str(registered_models.versions[0])
    running = engine_factory(engine_env(registered_models, tmp_path, SHADOW_MODEL_VERSION=served))
    with running.client() as http:
        http.post("/v1/estimate", json={"properties": list(registered_models.sample_rows)})
        assert running.state.shadow is None and shadow_samples(http) == {}


def test_share_zero_compares_nothing_but_shows_the_comparison_was_asked_for(
    engine_factory, registered_models, tmp_path
):
    previous = str(registered_models.versions[1])
    env = engine_env(registered_models, tmp_path, SHADOW_MODEL_VERSION=previous, ENGINE_SHADOW_SHARE="0")
    running = engine_factory(env)
    comparison = wait_settled(running)
    with running.client() as http:
        for _ in range(3):
            assert http.post(
                "/v1/estimate", json={"properties": list(registered_models.sample_rows)}
            ).is_success
        found = shadow_samples(http)
        model_shadow = http.get("/v1/model").json()["shadow"]
    key = labels(registered_models)
    assert not comparison.comparing  # the shadow model was not even loaded
    assert model_shadow == {"version": int(previous), "share": 0.0, "state": "off"}
    assert found[f"engine_shadow_compared_total{{{key}}}"] == 0
    assert all(found[f'engine_shadow_moved_total{{{key},threshold="{t}"}}'] == 0 for t in THRESHOLDS)


def test_a_shadow_that_cannot_be_loaded_is_counted_and_the_engine_stays_ready(
    engine_factory, registered_models, tmp_path
):
    running = engine_factory(engine_env(registered_models, tmp_path, SHADOW_MODEL_VERSION="99"))
    comparison = wait_settled(running)
    with running.client() as http:
        assert http.get("/health/ready").status_code == 200
        assert http.post("/v1/estimate", json={"properties": list(registered_models.sample_rows)}).is_success
        found = shadow_samples(http)
        described = http.get("/v1/model").json()["shadow"]
    assert isinstance(comparison.failure, ModelLoadError) and "99" in str(comparison.failure)
    assert described["version"] == 99 and described["state"] == "failed"
    assert described["failure"] == {"reason": "not-found", "detail": str(comparison.failure)}
    assert found == {'engine_shadow_load_failures_total{reason="not-found"}': 1.0}


def test_the_answer_is_delivered_before_the_shadow_sees_it(reference_models, registered_models):
    """The scorer hands a model call over only after its answers went out: a stuck shadow delays nothing."""
    model = reference_models[registered_models.versions[0]]
    batch = BatchValidator(model.card, UnknownCategoryPolicy.WARN).validate(
        list(registered_models.sample_rows), "properties"
    )
    scorer = Scorer(model, max_rows_per_call=1000)
    entered, release = threading.Event(), threading.Event()

    def stuck_shadow(batches, estimates) -> None:
        entered.set()
        release.wait(2 * WAIT_BOUND)

    scorer.observer = stuck_shadow

    async def estimate() -> Estimates:
        # Bounded: were the observer called before delivering, this would wait for it and time out.
        return await asyncio.wait_for(scorer.estimate(batch), WAIT_BOUND)

    try:
        result = asyncio.run(estimate())
        assert entered.wait(WAIT_BOUND) and not release.is_set()
    finally:
        release.set()
        scorer.close()
    rows = list(registered_models.sample_rows)
    np.testing.assert_array_equal(result.price, model.estimate(model.frame(rows)).price)


def stalled_comparison(card) -> tuple[ShadowComparison, EngineMetrics]:
    """A comparison as if its shadow were loaded, whose worker never started: nothing leaves the queue."""
    settings = EngineSettings.from_env(
        {"MODEL_NAME": "ames-price", "MODEL_VERSION": "1", "SHADOW_MODEL_VERSION": "2"}
    )
    metrics = EngineMetrics()
    comparison = ShadowComparison(settings, metrics.shadow, card)
    comparison._comparing = True
    return comparison, metrics


def dropped(metrics: EngineMetrics) -> float | None:
    labels_ = {"model_version": "1", "shadow_version": "2"}
    return metrics.registry.get_sample_value("engine_shadow_dropped_total", labels_)


def test_when_the_shadow_is_behind_offers_are_dropped_and_counted(reference_models, registered_models):
    comparison, metrics = stalled_comparison(reference_models[registered_models.versions[1]].card)
    price = np.array([1.0, 2.0, 3.0])
    batch = ValidatedBatch(size=3, columns={}, source=BatchSource("properties", b"{}"))
    for _ in range(QUEUE_LIMIT + 2):
        comparison.offer([batch], Estimates(price, price, price))
    assert dropped(metrics) == 2 * 3


def test_offers_past_the_queues_byte_budget_are_dropped_and_counted(reference_models, registered_models):
    """Bodies are held until compared: the queue is bounded in bytes too, not only in offers."""
    comparison, metrics = stalled_comparison(reference_models[registered_models.versions[1]].card)
    price = np.array([1.0, 2.0])
    big = ValidatedBatch(size=2, columns={}, source=BatchSource("properties", b" " * (QUEUE_BYTES // 3)))
    for _ in range(4):
        comparison.offer([big], Estimates(price, price, price))
    assert len(comparison._offers) == 3
    assert dropped(metrics) == 2
    exchange = comparison._taken(rows=1000)  # one exchange carries bodies up to EXCHANGE_BYTES
    assert len(exchange) == 1 and comparison._queued_bytes == 3 * len(big.source.body)  # being sent: counted
    comparison._released(exchange)
    comparison.offer([big], Estimates(price, price, price))  # room for one again
    assert len(comparison._offers) == 3 and dropped(metrics) == 2


def test_a_shadow_needing_a_feature_the_served_model_lacks_cannot_be_compared(
    reference_models, registered_models
):
    model = reference_models[registered_models.versions[1]]
    required = next(feature for feature in model.card.features if feature.required)
    served_card = dataclasses.replace(
        model.card, features=tuple(f for f in model.card.features if f.name != required.name)
    )
    shadow = ServedModel(model, "ames-price", 2, "0" * 64, "registry", None)
    with pytest.raises(ModelLoadError, match=rf"needs the \w+ feature '{required.name}'"):
        columns_to_fill(shadow, served_card)
    optional = next(feature for feature in model.card.features if not feature.required)
    served_card = dataclasses.replace(
        model.card, features=tuple(f for f in model.card.features if f.name != optional.name)
    )
    assert list(columns_to_fill(shadow, served_card)) == [optional.name]  # filled as missing


def test_a_share_between_zero_and_one_compares_about_that_share_of_properties(
    engine_factory, registered_models, tmp_path
):
    previous = str(registered_models.versions[1])
    env = engine_env(registered_models, tmp_path, SHADOW_MODEL_VERSION=previous, ENGINE_SHADOW_SHARE="0.5")
    running = engine_factory(env)
    assert wait_settled(running).comparing
    rows = list(registered_models.sample_rows)
    key = labels(registered_models)
    with running.client() as http:
        for _ in range(40):
            assert http.post("/v1/estimate", json={"properties": rows}).status_code == 200
        found = drained(http, running.state.shadow, key)
    compared = found[f"engine_shadow_compared_total{{{key}}}"]
    # 40 requests of 5 properties, each compared with probability 0.5 — Binomial(200, 0.5): mean 100, standard deviation about 7; the bounds are seven deviations out.
    assert 50 <= compared <= 150, compared
    assert found[f"engine_shadow_abs_log_ratio_count{{{key}}}"] == compared
    assert found.get(f"engine_shadow_dropped_total{{{key}}}", 0) == 0
