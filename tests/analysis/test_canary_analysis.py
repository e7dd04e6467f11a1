"""The canary analysis, for real: the AnalysisTemplates' own PromQL and conditions, run by a real Prometheus
that scrapes engines on 127.0.0.1 through gitops/'s scrape configuration.

Each engine poses as one pod, its Rollout pod template hash naming the scenario. Built engines expose
exactly the metric contract (gitops/apps/estimation-engine/analysis/metric-contract.yaml) with
prometheus_client, to cover behaviours a real engine cannot be made to show on demand (real engines with a
shadow version: test_shadow_canary.py): a sound candidate, one whose
prices are shifted by 15 %, one answering 5xx, a slow one, one without a shadow version, one counting other
moved thresholds, one with too few comparisons, and a stable ReplicaSet that fails (which must not count
against the canary). Two real engines (``python -m estimation_engine serve``) judge the serving metrics:
one serving its pinned model, one whose pinned version does not exist (every estimate is a 503).

All engines are scraped by one Prometheus every second while bounded load runs; the templates run with
their own thresholds and a 10 s window (an arg, as an overlay would set it) and each metric is measured
twice, so a verdict is also the AnalysisRun's (Failed beyond failureLimit, Inconclusive beyond 0).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from delivery.overlay_render import render_objects
from tests.analysis.argo_analysis import (
    FAILED,
    INCONCLUSIVE,
    SUCCESSFUL,
    evaluate,
    merge_args,
    resolve_metric,
)
from tests.analysis.conftest import (
    ENGINE_JOB,
    ENGINE_READY_BOUND,
    SAMPLES_BOUND,
    PodTarget,
    RunningPrometheus,
    scrape_config_for,
)
from tests.conftest import REPO_ROOT, RegisteredModels
from tests.estimation_engine.conftest import engine_env, spawn_engine

CONTRACT = REPO_ROOT / "gitops/apps/estimation-engine/analysis/metric-contract.yaml"
SCRAPE_INTERVAL = "1s"
WINDOW = "10s"
# Scrapes of every target before judging: a full window of samples.
SAMPLES_BEFORE_JUDGING = 11
MEASUREMENTS = 2
LOAD_TICK_SECONDS = 0.1
LOAD_BOUND_SECONDS = 120.0
REQUESTS_PER_TICK = 10
SCORING_ROUTE = "/v1/estimate"


@dataclass(frozen=True)
class Behaviour:
    """What a built engine does with each simulated request."""

    error_share: float = 0.0
    latency_seconds: float = 0.004
    # new price / previous price, before noise; the interval width scales with it.
    price_shift: float = 1.0
    shadow: bool = True
    moved_thresholds: tuple[str, ...] = ("0.05", "0.1", "0.2")
    # One shadow comparison every `compare_every` requests.
    compare_every: int = 1


SCENARIOS = {
    "sound": Behaviour(),
    "shifted": Behaviour(price_shift=1.15),
    "errors": Behaviour(error_share=0.2),
    "slow": Behaviour(latency_seconds=1.2),
    "no-shadow": Behaviour(shadow=False),
    "other-thresholds": Behaviour(moved_thresholds=("0.05", "0.2")),
    "few-comparisons": Behaviour(compare_every=60),
    # The stable ReplicaSet of the same Rollout, failing half its requests and shifted: not the canary.
    "stable": Behaviour(error_share=0.5, price_shift=1.5),
}


class ContractEngine:
    """A metric server exposing the contract's series on 127.0.0.1, fed by simulated requests."""

    def __init__(self, behaviour: Behaviour, seed: int) -> None:
        self.behaviour = behaviour
        self.random = random.Random(seed)
        self.requests_seen = 0
        registry = CollectorRegistry()
        self.metrics = {spec["name"]: _metric(spec, registry) for spec in _contract_series()}
        labels = {"model_version": "8", "shadow_version": "7"}
        if behaviour.shadow:
            # The contract: created at 0 once the shadow model is loaded.
            self.compared = self.metrics["engine_shadow_compared_total"].labels(**labels)
            self.moved = {
                threshold: self.metrics["engine_shadow_moved_total"].labels(**labels, threshold=threshold)
                for threshold in behaviour.moved_thresholds
            }
            self.abs_log_ratio = self.metrics["engine_shadow_abs_log_ratio"].labels(**labels)
            self.width_ratio = self.metrics["engine_shadow_interval_width_ratio"].labels(**labels)
        self.server, self.thread = start_http_server(0, addr="127.0.0.1", registry=registry)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def serve(self, count: int) -> None:
        behaviour = self.behaviour
        for _ in range(count):
            self.requests_seen += 1
            status = "503" if self.random.random() < behaviour.error_share else "200"
            self.metrics["engine_http_requests_total"].labels(SCORING_ROUTE, "POST", status).inc()
            latency = behaviour.latency_seconds * math.exp(self.random.gauss(0, 0.1))
            self.metrics["engine_http_request_duration_seconds"].labels(
                SCORING_ROUTE, "POST", status
            ).observe(latency)
            if behaviour.shadow and status == "200" and self.requests_seen % behaviour.compare_every == 0:
                self._compare()

    def _compare(self) -> None:
        log_ratio = math.log(self.behaviour.price_shift) + self.random.gauss(0, 0.02)
        self.compared.inc()
        self.abs_log_ratio.observe(abs(log_ratio))
        self.width_ratio.observe(math.exp(log_ratio + self.random.gauss(0, 0.03)))
        for threshold, counter in self.moved.items():
            if abs(log_ratio) > float(threshold):
                counter.inc()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _contract_series() -> list[dict]:
    return yaml.safe_load(CONTRACT.read_text())["series"]


def _metric(spec: dict, registry: CollectorRegistry) -> Counter | Histogram:
    if spec["type"] == "counter":
        return Counter(
            spec["name"].removesuffix("_total"), spec.get("help", "-"), spec["labels"], registry=registry
        )
    assert spec["type"] == "histogram", spec
    return Histogram(
        spec["name"], spec.get("help", "-"), spec["labels"], buckets=spec["buckets"], registry=registry
    )


@dataclass
class Load:
    """Bounded load: built engines get simulated requests, real engines real ones, until stopped."""

    built: list[ContractEngine]
    real_urls: list[str]
    body: bytes
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._simulate, daemon=True)] + [
            threading.Thread(target=self._post, args=(url,), daemon=True) for url in self.real_urls
        ]
        for thread in self.threads:
            thread.start()

    def _simulate(self) -> None:
        deadline = time.monotonic() + LOAD_BOUND_SECONDS
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            for engine in self.built:
                engine.serve(REQUESTS_PER_TICK)
            self.stop_event.wait(LOAD_TICK_SECONDS)

    def _post(self, url: str) -> None:
        deadline = time.monotonic() + LOAD_BOUND_SECONDS
        headers = {"content-type": "application/json"}
        with httpx.Client(base_url=url, timeout=10) as client:
            for _ in range(int(LOAD_BOUND_SECONDS / 0.02)):
                if self.stop_event.is_set() or time.monotonic() > deadline:
                    return
                client.post(SCORING_ROUTE, content=self.body, headers=headers)
                self.stop_event.wait(0.02)

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=15)


@pytest.fixture(scope="module")
def templates() -> dict[str, dict]:
    """The AnalysisTemplates as prod renders them (what Argo CD applies)."""
    return {
        o["metadata"]["name"]: o for o in render_objects(REPO_ROOT, "prod") if o["kind"] == "AnalysisTemplate"
    }


@pytest.fixture(scope="module")
def cluster(
    prometheus_factory, registered_models: RegisteredModels, tmp_path_factory
) -> Iterator[RunningPrometheus]:
    """Every scenario's engine scraped by one Prometheus, under load, for the module's tests."""
    folder = tmp_path_factory.mktemp("engines")
    built = {
        name: ContractEngine(behaviour, seed) for seed, (name, behaviour) in enumerate(SCENARIOS.items())
    }
    real = {
        "engine-serving": spawn_engine(engine_env(registered_models, folder / "cache-a"), folder / "a.log"),
        # Pinned to a version the registry does not have: it never becomes ready and answers 503.
        "engine-503": spawn_engine(
            engine_env(registered_models, folder / "cache-b", MODEL_VERSION="99"), folder / "b.log"
        ),
    }
    load = None
    try:
        real["engine-serving"].wait_for("/health/ready", ENGINE_READY_BOUND)
        real["engine-503"].wait_for("/health/live", ENGINE_READY_BOUND)
        targets = [PodTarget(engine.address, f"pod-{name}", name) for name, engine in built.items()]
        targets += [PodTarget(e.url.removeprefix("http://"), f"pod-{name}", name) for name, e in real.items()]
        body = json.dumps({"properties": list(registered_models.sample_rows[:1])}).encode()
        load = Load(list(built.values()), [engine.url for engine in real.values()], body)
        yield scraped_under_load(prometheus_factory, targets, load)
    finally:
        if load is not None:
            load.stop()
        for engine in built.values():
            engine.stop()
        for engine in real.values():
            engine.stop()


def scraped_under_load(prometheus_factory, targets: list[PodTarget], load: Load) -> RunningPrometheus:
    """A Prometheus scraping ``targets`` once ``load`` runs, returned after a full window of samples (the
    caller stops the load)."""
    prometheus = prometheus_factory(scrape_config_for(targets, SCRAPE_INTERVAL))
    load.start()
    prometheus.wait_for_samples(ENGINE_JOB, len(targets), SAMPLES_BEFORE_JUDGING, bound=SAMPLES_BOUND)
    return prometheus


def run_analysis(prometheus: RunningPrometheus, template: dict, canary_hash: str) -> dict[str, str]:
    """Each metric's AnalysisRun phase after MEASUREMENTS measurements, as the controller would judge it."""
    args = merge_args(
        template["spec"]["args"],
        [
            {"name": "canary-hash", "value": canary_hash},
            {"name": "prometheus-address", "value": prometheus.url},
            {"name": "window", "value": WINDOW},
            {"name": "evidence-window", "value": WINDOW},
        ],
    )
    metrics = [resolve_metric(metric, args) for metric in template["spec"]["metrics"]]
    measured: dict[str, list[str]] = {metric["name"]: [] for metric in metrics}
    for round_ in range(MEASUREMENTS):
        if round_:
            time.sleep(1.0)
        for metric in metrics:
            provider = metric["provider"]["prometheus"]
            assert provider["address"] == prometheus.url
            measured[metric["name"]].append(evaluate(metric, prometheus.query(provider["query"])))
    return {metric["name"]: _run_phase(metric, measured[metric["name"]]) for metric in metrics}


def _run_phase(metric: dict, phases: list[str]) -> str:
    """utils/analysis: Failed once failures exceed failureLimit, Inconclusive beyond inconclusiveLimit."""
    if phases.count(FAILED) > int(metric.get("failureLimit", 0)):
        return FAILED
    if phases.count(INCONCLUSIVE) > int(metric.get("inconclusiveLimit", 0)):
        return INCONCLUSIVE
    return SUCCESSFUL


def _all(template: dict, phase: str) -> dict[str, str]:
    return {metric["name"]: phase for metric in template["spec"]["metrics"]}


@pytest.fixture(scope="module")
def serving(templates) -> dict:
    return templates["estimation-engine-serving"]


@pytest.fixture(scope="module")
def shadow(templates) -> dict:
    return templates["estimation-engine-shadow"]


def test_a_sound_candidate_passes_every_metric(cluster, serving, shadow):
    assert run_analysis(cluster, serving, "sound") == _all(serving, SUCCESSFUL)
    assert run_analysis(cluster, shadow, "sound") == _all(shadow, SUCCESSFUL)


def test_a_candidate_whose_prices_moved_by_15_percent_fails_on_the_shadow_metrics(cluster, serving, shadow):
    assert run_analysis(cluster, serving, "shifted") == _all(serving, SUCCESSFUL)
    assert run_analysis(cluster, shadow, "shifted") == {
        **_all(shadow, SUCCESSFUL),
        "shadow-median-abs-log-ratio": FAILED,
        "shadow-moved-share": FAILED,
    }


def test_a_candidate_answering_5xx_fails_on_errors(cluster, serving, shadow):
    assert run_analysis(cluster, serving, "errors") == {**_all(serving, SUCCESSFUL), "error-rate": FAILED}
    assert run_analysis(cluster, shadow, "errors") == _all(shadow, SUCCESSFUL)


def test_a_slow_candidate_fails_on_p99_latency(cluster, serving):
    assert run_analysis(cluster, serving, "slow") == {**_all(serving, SUCCESSFUL), "latency-p99": FAILED}


def test_the_stable_pods_failures_do_not_count_against_the_canary(cluster, serving, shadow):
    """The stable ReplicaSet fails, the sound canary beside it passes: the analysis selects by pod hash."""
    assert run_analysis(cluster, serving, "stable")["error-rate"] == FAILED
    assert run_analysis(cluster, shadow, "stable")["shadow-median-abs-log-ratio"] == FAILED
    assert run_analysis(cluster, serving, "sound")["error-rate"] == SUCCESSFUL


def test_without_a_shadow_version_the_shadow_analysis_has_nothing_to_judge_and_passes(cluster, shadow):
    args = {"canary-hash": "no-shadow", "prometheus-address": cluster.url, "window": WINDOW}
    for metric in shadow["spec"]["metrics"]:
        resolved = resolve_metric(metric, merge_args(shadow["spec"]["args"], _values(args)))
        assert cluster.query(resolved["provider"]["prometheus"]["query"]) == [], metric["name"]
    assert run_analysis(cluster, shadow, "no-shadow") == _all(shadow, SUCCESSFUL)


def test_a_moved_threshold_the_engine_does_not_count_fails_loudly_instead_of_passing(cluster, shadow):
    assert run_analysis(cluster, shadow, "other-thresholds") == {
        **_all(shadow, SUCCESSFUL),
        "shadow-moved-share": FAILED,
    }


def test_too_few_comparisons_are_inconclusive_not_a_verdict(cluster, shadow):
    phases = run_analysis(cluster, shadow, "few-comparisons")
    assert phases["shadow-comparisons"] == INCONCLUSIVE
    assert FAILED not in phases.values()


def test_the_real_engine_serving_its_model_passes_the_serving_analysis(cluster, serving):
    assert run_analysis(cluster, serving, "engine-serving") == _all(serving, SUCCESSFUL)


def test_the_real_engine_answering_503_fails_on_errors(cluster, serving):
    phases = run_analysis(cluster, serving, "engine-503")
    assert phases["error-rate"] == FAILED


def _values(args: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in args.items()]
