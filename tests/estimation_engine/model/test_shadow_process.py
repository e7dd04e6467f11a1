"""The shadow model's own process: at the lowest priority, the bodies it validates again, and its lifecycle —
stopped and reaped with the engine, gone with an engine killed outright (even while loading), a death or a
failed batch counted while the engine keeps answering."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from estimation_engine.api.metrics import EngineMetrics
from estimation_engine.api.schema_decoding import SchemaDecoder
from estimation_engine.api.validation import BatchSource, BatchValidator, ValidatedBatch
from estimation_engine.model import shadow_process
from estimation_engine.model.model_loading import ServedModel
from estimation_engine.model.shadow import ShadowComparison
from estimation_engine.model.shadow_process import NICENESS, ShadowModel, ShadowProcess
from estimation_engine.settings import EngineSettings
from model_contract.artifact import Estimates
from tests.conftest import REPO_ROOT, stalled_registry
from tests.estimation_engine.conftest import engine_env
from tests.estimation_engine.model.conftest import (
    WAIT_BOUND,
    drained,
    labels,
    shadow_samples,
    wait_compared,
    wait_settled,
)


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


def test_the_shadow_model_runs_in_a_child_process_at_the_lowest_priority(shadow_engine):
    """Not under the engine's interpreter lock, and only on CPU the served requests leave idle."""
    process = shadow_engine.state.shadow.process
    assert process is not None and process.pid != os.getpid() and alive(process.pid)
    threads = [int(task.name) for task in Path(f"/proc/{process.pid}/task").iterdir()]
    assert len(threads) > 1  # the hang-up watch at least, started before the model loaded
    for thread in threads:  # each thread: on Linux, priority and policy are a thread's, not the process's
        assert os.getpriority(os.PRIO_PROCESS, thread) == NICENESS == 19
        assert os.sched_getscheduler(thread) == os.SCHED_IDLE


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
        assert http.get("/v1/model").json()["shadow"]["state"] == "gone"
    assert after[key] == compared  # nothing compared after it died
    dropped = f"engine_shadow_dropped_total{{{labels(registered_models)}}}"
    assert after[dropped] >= 3 * 5  # and what was offered since is counted, not silently lost
    assert reaped(pid)


class StarvedChild:
    """A child the CPU does not get to: at SCHED_IDLE on a machine kept busy at normal priority, it neither
    ends when asked nor dies when killed within the wait (seen under a test suite's load)."""

    def __init__(self, command: list[str], pass_fds: tuple[int, ...], **_: object) -> None:
        self.pid = 2**22 + 1  # above any pid this machine hands out (pid_max is at most 2**22)
        self.killed = False
        self.end = socket.socket(fileno=os.dup(pass_fds[0]))  # its end of the connection stays open

    def wait(self, timeout: float) -> int:
        raise subprocess.TimeoutExpired("shadow process", timeout)

    def kill(self) -> None:
        self.killed = True

    def poll(self) -> None:
        return None


def test_a_killed_shadow_process_not_yet_gone_leaves_a_warning_not_a_failed_shutdown(
    reference_models, registered_models, monkeypatch, caplog
):
    monkeypatch.setattr(shadow_process.subprocess, "Popen", StarvedChild)
    monkeypatch.setattr(shadow_process, "STOP_SECONDS", 0.01)
    model = reference_models[registered_models.versions[1]]
    settings = EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": "2"})
    process = ShadowProcess(settings, model.card)
    process.stop()  # asks, waits, kills, waits: returns
    child = process._process
    assert child.killed
    assert f"shadow process (pid {child.pid}) killed but not yet gone" in caplog.text
    child.end.close()


def test_the_bodies_sent_to_the_shadow_process_validate_to_the_engines_columns(
    reference_models, registered_models
):
    """What crosses is the request bodies (as pickled): validated again in the child, all of an exchange's
    picked properties as one batch, they give the columns the engine served from (values, dtypes, order,
    missing categories), picked rows included, whether the exchange has warnings to walk or none."""
    model = reference_models[registered_models.versions[1]]
    rows = list(registered_models.sample_rows)
    settings = EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": "2"})
    validator = BatchValidator(model.card, settings.unknown_categories)
    engine_side = {key: SchemaDecoder(model.card, key, validator, 10) for key in ("properties", "data")}
    lot_area = model.card.training_ranges()["Lot_Area"]
    odd_rows = [{**rows[1], "Neighborhood": "Atlantis", "Lot_Area": lot_area.maximum * 2}, rows[0]]
    bodies = {
        "all": ("properties", json.dumps({"properties": rows}).encode()),
        "two": ("data", json.dumps({"data": rows[:2]}).encode()),
        "odd": ("properties", json.dumps({"properties": odd_rows}).encode()),
    }
    served = {name: engine_side[key].batch(body).columns for name, (key, body) in bodies.items()}
    shadow = ShadowModel(
        ServedModel(model, "ames-price", 2, "0" * 64, "registry", None), model.card, settings
    )
    picked = np.array([0, 3])
    with_warnings = [
        ([bodies["all"], bodies["two"]], None),
        ([bodies["all"]], picked),
        ([bodies["odd"], bodies["two"]], np.array([0, 3])),
    ]
    rebuilt = shadow.columns(pickle.loads(pickle.dumps(with_warnings)))  # as the child receives them
    assert tuple(rebuilt) == tuple(served["all"])
    for name in rebuilt:
        each = {body: columns[name] for body, columns in served.items()}
        expected = [each["all"], each["two"], each["all"][picked], each["odd"][:1], each["two"][1:]]
        assert_same_column(rebuilt[name], np.concatenate(expected), name)
    quiet = shadow.columns([([bodies["two"]], None), ([bodies["odd"]], np.array([1]))])
    for name in quiet:
        assert_same_column(quiet[name], np.concatenate([served["two"][name], served["odd"][name][1:]]), name)
    estimates = shadow.estimate(rebuilt, len(rows) + 2 + len(picked) + 2)
    np.testing.assert_array_equal(estimates.price[: len(rows)], model.estimate(model.frame(rows)).price)


def test_an_exchange_is_validated_once_unless_a_body_does_not_fit_the_schema(
    reference_models, registered_models, monkeypatch
):
    """One validation per exchange is the point (its fixed cost, benchmarks/README.md); an exchange with a body
    the schema does not fit is read body by body, as the engine read it, to the same columns."""
    model = reference_models[registered_models.versions[1]]
    rows = list(registered_models.sample_rows)
    settings = EngineSettings.from_env({"MODEL_NAME": "ames-price", "MODEL_VERSION": "2"})
    shadow = ShadowModel(
        ServedModel(model, "ames-price", 2, "0" * 64, "registry", None), model.card, settings
    )
    validations: list[int] = []  # the size of each batch validated
    validator = shadow.decoders["properties"].validator
    typed = validator.typed

    def counted(columns, size, location):
        validations.append(size)
        return typed(columns, size, location)

    monkeypatch.setattr(validator, "typed", counted)
    exchange = [([("properties", json.dumps({"properties": [row]}).encode())], None) for row in rows]
    merged = shadow.columns(exchange)
    assert validations == [len(rows)]

    validations.clear()
    decoder = shadow.decoders["properties"]
    items = decoder.items
    unfit = exchange[2][0][0][1]
    monkeypatch.setattr(decoder, "items", lambda body: None if body == unfit else items(body))
    body_by_body = shadow.columns(exchange)
    assert validations == [1] * (len(rows) - 1)  # the unfit body went the exhaustive way, the others typed
    for name in merged:
        assert_same_column(body_by_body[name], merged[name], name)


def assert_same_column(column: np.ndarray, expected: np.ndarray, name: str) -> None:
    assert column.dtype == expected.dtype, name
    if expected.dtype == object:  # categories: the same strings, and missing where missing
        assert [v if isinstance(v, str) else "<missing>" for v in column] == [
            v if isinstance(v, str) else "<missing>" for v in expected
        ], name
    else:
        np.testing.assert_array_equal(column, expected, err_msg=name)


def test_a_batch_the_shadow_cannot_estimate_is_counted_and_the_comparison_goes_on(
    shadow_engine, registered_models
):
    comparison = shadow_engine.state.shadow
    key = labels(registered_models)
    body = {"properties": list(registered_models.sample_rows)}
    with shadow_engine.client() as http:
        before = drained(http, comparison, key)
        price = np.array([100_000.0])
        unreadable = BatchSource("properties", b'{"properties": [{"no_such_feature": 1}]}')
        comparison.offer([ValidatedBatch(1, {}, source=unreadable)], Estimates(price, price, price))
        assert http.post("/v1/estimate", json=body).status_code == 200
        after = drained(http, comparison, key)
    dropped, compared = f"engine_shadow_dropped_total{{{key}}}", f"engine_shadow_compared_total{{{key}}}"
    assert after[dropped] - before[dropped] >= 1  # the bad offer (and any gathered with it)
    assert after[dropped] - before[dropped] + after[compared] - before[compared] == 1 + 5
    assert comparison.comparing and alive(comparison.process.pid)


def loading_from(url: str, models, reference_models) -> tuple[ShadowComparison, EngineMetrics]:
    """A comparison whose child is loading the shadow model from ``url`` (a registry that never answers,
    under a 120 s retry budget), about a second into it."""
    settings = EngineSettings.from_env(
        {
            "MODEL_NAME": models.model_name,
            "MODEL_VERSION": "1",
            "SHADOW_MODEL_VERSION": "2",
            "MLFLOW_TRACKING_URI": url,
            "REGISTRY_RETRY_SECONDS": "120",
        }
    )
    metrics = EngineMetrics()
    comparison = ShadowComparison(settings, metrics.shadow, reference_models[models.versions[0]].card)
    comparison.start()
    deadline = time.monotonic() + WAIT_BOUND
    while comparison.process is None:
        assert time.monotonic() < deadline, "the shadow process did not start"
        time.sleep(0.05)
    time.sleep(1.0)  # well into loading
    return comparison, metrics


def load_failures(metrics: EngineMetrics) -> float | None:
    return metrics.registry.get_sample_value(
        "engine_shadow_load_failures_total", {"reason": "invalid-artifact"}
    )


def test_closing_while_the_shadow_model_loads_ends_the_child_at_once_and_counts_no_failure(
    reference_models, registered_models
):
    with stalled_registry() as url:
        comparison, metrics = loading_from(url, registered_models, reference_models)
        pid = comparison.process.pid
        assert comparison.describe()["state"] == "loading"
        started = time.monotonic()
        comparison.close()
        took = time.monotonic() - started
    assert reaped(pid)
    assert took < 5.0, f"close() took {took:.1f}s: the child was killed after the timeout, not terminated"
    assert comparison.settled.is_set() and comparison.failure is None
    assert load_failures(metrics) is None


def test_a_shadow_process_that_dies_while_loading_is_a_load_failure_naming_its_exit_code(
    reference_models, registered_models
):
    with stalled_registry() as url:
        comparison, metrics = loading_from(url, registered_models, reference_models)
        pid = comparison.process.pid
        os.kill(pid, signal.SIGKILL)
        assert comparison.settled.wait(WAIT_BOUND)
        comparison.close()
    assert f"exited with code -{signal.SIGKILL.value} while loading" in str(comparison.failure)
    assert load_failures(metrics) == 1
    assert not comparison.comparing and reaped(pid)


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
