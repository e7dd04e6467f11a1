"""The canary's shadow comparison: the engine also estimates with the version it replaces, answers with the
served one only, and exports what moved, as gitops/'s metric contract says."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from estimation_engine.api.metrics import EngineMetrics
from estimation_engine.api.validation import BatchValidator
from estimation_engine.model.model_loading import ModelLoadError, ServedModel
from estimation_engine.model.scoring import Scorer
from estimation_engine.model.shadow import QUEUE_LIMIT, ShadowComparison, _as_lists
from estimation_engine.model.shadow_process import NICENESS, ShadowModel, columns_to_fill
from estimation_engine.settings import EngineSettings, UnknownCategoryPolicy
from model_contract.artifact import Estimates
from tests.conftest import REPO_ROOT, stalled_registry
from tests.estimation_engine.conftest import START_TIMEOUT, engine_env, start_engine

CONTRACT = REPO_ROOT / "gitops/apps/estimation-engine/analysis/metric-contract.yaml"
THRESHOLDS = ("0.05", "0.1", "0.2")
WAIT_BOUND = 60.0


def samples(http) -> dict[str, float]:
    """The /metrics exposition's samples, by their full name with labels."""
    lines = http.get("/metrics").text.splitlines()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in lines
        if line and not line.startswith("#")
    }


def shadow_samples(http) -> dict[str, float]:
    found = samples(http).items()
    return {
        name: value for name, value in found if name.startswith("engine_shadow_") and "_created{" not in name
    }


def wait_settled(engine) -> ShadowComparison:
    comparison = engine.state.shadow
    assert comparison is not None, "no shadow comparison started"
    assert comparison.settled.wait(START_TIMEOUT), "the shadow model neither loaded nor failed"
    return comparison


def wait_compared(http, name: str, count: int) -> dict[str, float]:
    """Until the compared counter reaches ``count`` (the worker runs after the answers), bounded."""
    deadline = time.monotonic() + WAIT_BOUND
    while True:
        found = shadow_samples(http)
        if found.get(name, 0) >= count:
            return found
        assert time.monotonic() < deadline, f"{name} stayed at {found.get(name)}, expected {count}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def shadow_engine(registered_models, tmp_path_factory):
    """Serving the first registered version, comparing with the second."""
    previous = registered_models.versions[1]
    env = engine_env(
        registered_models, tmp_path_factory.mktemp("shadow-cache"), SHADOW_MODEL_VERSION=str(previous)
    )
    running = start_engine(env)
    wait_settled(running)
    yield running
    running.stop()


def labels(models) -> str:
    served, previous = models.versions
    return f'model_version="{served}",shadow_version="{previous}"'


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


def test_without_a_shadow_version_no_shadow_series_exist(engine, http, registered_models):
    http.post("/v1/estimate", json={"properties": list(registered_models.sample_rows)})
    assert engine.state.shadow is None
    assert shadow_samples(http) == {}


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
    key = labels(registered_models)
    assert not comparison.comparing  # the shadow model was not even loaded
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
    assert isinstance(comparison.failure, ModelLoadError) and "99" in str(comparison.failure)
    assert found == {'engine_shadow_load_failures_total{reason="not-found"}': 1.0}


def test_the_answer_is_delivered_before_the_shadow_sees_it(reference_models, registered_models):
    """The scorer hands a model call over only after its answers went out: a stuck shadow delays nothing."""
    model = reference_models[registered_models.versions[0]]
    batch = BatchValidator(model.card, UnknownCategoryPolicy.WARN).validate(
        list(registered_models.sample_rows), "properties"
    )
    scorer = Scorer(model, max_rows_per_call=1000)
    entered, release = threading.Event(), threading.Event()

    def stuck_shadow(columns, rows, estimates) -> None:
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


def test_when_the_shadow_is_behind_offers_are_dropped_and_counted(reference_models, registered_models):
    model = reference_models[registered_models.versions[1]]
    settings = EngineSettings.from_env(
        {"MODEL_NAME": "ames-price", "MODEL_VERSION": "1", "SHADOW_MODEL_VERSION": "2"}
    )
    metrics = EngineMetrics()
    comparison = ShadowComparison(settings, metrics.shadow, model.card)
    comparison._comparing = True  # as if loaded, but its worker never started: nothing leaves the queue
    price = np.array([1.0, 2.0, 3.0])
    for _ in range(QUEUE_LIMIT + 2):
        comparison.offer({}, 3, Estimates(price, price, price))
    labels_ = {"model_version": "1", "shadow_version": "2"}
    assert metrics.registry.get_sample_value("engine_shadow_dropped_total", labels_) == 2 * 3


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


def alive(pid: int) -> bool:
    """Running (a zombie is not: it has exited, only not been reaped by whoever its parent now is)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def reaped(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def drained(http, comparison: ShadowComparison, key: str) -> dict[str, float]:
    """The samples once no offer waits and the compared counter has held for a second (bounded)."""
    deadline, last, held_since = time.monotonic() + WAIT_BOUND, None, time.monotonic()
    while True:
        found = shadow_samples(http)
        now = found[f"engine_shadow_compared_total{{{key}}}"]
        if now != last or comparison._offers:
            last, held_since = now, time.monotonic()
        elif time.monotonic() - held_since >= 1.0:
            return found
        assert time.monotonic() < deadline, "the comparison did not drain"
        time.sleep(0.1)


def test_the_shadow_model_runs_in_a_child_process_at_the_lowest_priority(shadow_engine):
    """Not under the engine's interpreter lock, and only on CPU the served requests leave idle."""
    process = shadow_engine.state.shadow.process
    assert process is not None and process.pid != os.getpid() and alive(process.pid)
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == NICENESS == 19


def test_stopping_the_engine_stops_its_shadow_process(engine_factory, registered_models, tmp_path):
    previous = str(registered_models.versions[1])
    running = engine_factory(engine_env(registered_models, tmp_path, SHADOW_MODEL_VERSION=previous))
    comparison = wait_settled(running)
    assert comparison.comparing
    pid = comparison.process.pid
    running.stop()
    assert reaped(pid)  # ended and reaped by the engine, not left behind as a zombie


def test_a_shadow_process_that_dies_ends_the_comparison_and_the_engine_keeps_answering(
    engine_factory, registered_models, tmp_path
):
    previous = str(registered_models.versions[1])
    running = engine_factory(engine_env(registered_models, tmp_path, SHADOW_MODEL_VERSION=previous))
    comparison = wait_settled(running)
    key = f"engine_shadow_compared_total{{{labels(registered_models)}}}"
    body = {"properties": list(registered_models.sample_rows)}
    with running.client() as http:
        assert http.post("/v1/estimate", json=body).is_success
        compared = wait_compared(http, key, 5)[key]
        pid = comparison.process.pid
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + WAIT_BOUND
        while comparison.comparing:  # noticed at the next exchange
            assert http.post("/v1/estimate", json=body).is_success
            assert time.monotonic() < deadline, "the dead shadow process was not noticed"
            time.sleep(0.05)
        for _ in range(3):
            assert http.post("/v1/estimate", json=body).status_code == 200
        assert http.get("/health/ready").status_code == 200
        after = shadow_samples(http)
    assert after[key] == compared  # nothing compared after it died
    dropped = f"engine_shadow_dropped_total{{{labels(registered_models)}}}"
    assert after[dropped] >= 3 * 5  # and what was offered since is counted, not silently lost
    assert reaped(pid)


def test_the_columns_cross_to_the_shadow_process_unchanged(reference_models, registered_models):
    """The wire form (plain lists per offer) rebuilds the validated columns: values, dtypes, order."""
    model = reference_models[registered_models.versions[1]]
    rows = list(registered_models.sample_rows)
    batch = BatchValidator(model.card, UnknownCategoryPolicy.WARN).validate(rows, "properties")
    shadow = ShadowModel(ServedModel(model, "ames-price", 2, "0" * 64, "registry", None), model.card, False)
    picked = np.array([0, 3])
    names = tuple(batch.columns)
    wire = pickle.dumps((names, [_as_lists(batch.columns, None), _as_lists(batch.columns, picked)]))
    rebuilt = shadow.columns(*pickle.loads(wire))  # as the child receives them
    assert tuple(rebuilt) == names
    for name, values in batch.columns.items():
        expected = np.concatenate([values, values[picked]])
        assert rebuilt[name].dtype == expected.dtype, name
        if expected.dtype == object:  # categories: the same strings, and missing where missing
            assert [v if isinstance(v, str) else "<missing>" for v in rebuilt[name]] == [
                v if isinstance(v, str) else "<missing>" for v in expected
            ], name
        else:
            np.testing.assert_array_equal(rebuilt[name], expected, err_msg=name)
    estimates = shadow.estimate(rebuilt, len(rows) + len(picked))
    np.testing.assert_array_equal(estimates.price[: len(rows)], model.estimate(model.frame(rows)).price)


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


def test_a_batch_the_shadow_cannot_estimate_is_counted_and_the_comparison_goes_on(
    shadow_engine, registered_models
):
    comparison = shadow_engine.state.shadow
    key = labels(registered_models)
    body = {"properties": list(registered_models.sample_rows)}
    with shadow_engine.client() as http:
        before = drained(http, comparison, key)
        price = np.array([100_000.0])
        comparison.offer({"no_such_feature": np.array([1.0])}, 1, Estimates(price, price, price))
        assert http.post("/v1/estimate", json=body).status_code == 200
        after = drained(http, comparison, key)
    dropped, compared = f"engine_shadow_dropped_total{{{key}}}", f"engine_shadow_compared_total{{{key}}}"
    assert after[dropped] - before[dropped] >= 1  # the bad offer (and any gathered with it)
    assert after[dropped] - before[dropped] + after[compared] - before[compared] == 1 + 5
    assert comparison.comparing and alive(comparison.process.pid)


def test_closing_while_the_shadow_model_loads_ends_the_child_at_once_and_counts_no_failure(
    reference_models, registered_models
):
    model = reference_models[registered_models.versions[0]]
    with stalled_registry() as url:  # the child's load waits on it
        settings = EngineSettings.from_env(
            {
                "MODEL_NAME": registered_models.model_name,
                "MODEL_VERSION": "1",
                "SHADOW_MODEL_VERSION": "2",
                "MLFLOW_TRACKING_URI": url,
                "REGISTRY_RETRY_SECONDS": "120",
            }
        )
        metrics = EngineMetrics()
        comparison = ShadowComparison(settings, metrics.shadow, model.card)
        comparison.start()
        deadline = time.monotonic() + WAIT_BOUND
        while comparison.process is None:
            assert time.monotonic() < deadline, "the shadow process did not start"
            time.sleep(0.05)
        pid = comparison.process.pid
        time.sleep(1.0)  # well into loading
        started = time.monotonic()
        comparison.close()
        took = time.monotonic() - started
    assert reaped(pid)
    assert took < 5.0, f"close() took {took:.1f}s: the child was killed after the timeout, not terminated"
    assert comparison.settled.is_set() and comparison.failure is None
    assert (
        metrics.registry.get_sample_value("engine_shadow_load_failures_total", {"reason": "invalid-artifact"})
        is None
    )


def test_an_engine_killed_outright_takes_its_shadow_process_with_it(
    reference_models, registered_models, tmp_path
):
    """Even while the child is loading (nothing reads the socket then): here from a registry that never
    answers, under a 120 s retry budget it would otherwise sit out."""
    card = tmp_path / "card.pickle"
    card.write_bytes(pickle.dumps(reference_models[registered_models.versions[0]].card))
    with stalled_registry() as url:
        settings = {
            "MODEL_NAME": registered_models.model_name,
            "MODEL_VERSION": "2",
            "MLFLOW_TRACKING_URI": url,
            "REGISTRY_RETRY_SECONDS": "120",
        }
        engine = subprocess.Popen(  # stands in for the engine: starts a shadow process, then is killed
            [sys.executable, "-c", ENGINE_STAND_IN, json.dumps(settings), str(card)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            child = int(engine.stdout.readline())
            time.sleep(2.0)  # importing, then waiting on the registry
            assert alive(child)
        finally:
            engine.kill()
            engine.wait(timeout=10)
        deadline = time.monotonic() + 15
        while alive(child):
            assert time.monotonic() < deadline, f"shadow process {child} outlived its engine"
            time.sleep(0.1)


ENGINE_STAND_IN = """
import json, pickle, sys, time
from pathlib import Path
from estimation_engine.model.shadow_process import ShadowProcess
from estimation_engine.settings import EngineSettings
process = ShadowProcess(EngineSettings.from_env(json.loads(sys.argv[1])), pickle.loads(Path(sys.argv[2]).read_bytes()))
print(process.pid, flush=True)
time.sleep(120)
"""
