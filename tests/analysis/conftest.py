"""A real Prometheus on 127.0.0.1 scraping engines on 127.0.0.1 with the scrape configuration of gitops/.

The Debian package ``prometheus`` provides the binary (``.ci/run`` installs it). Without it a developer's
run skips these tests with the reason; CI (``CI=true``) fails instead, because there the analysis would
otherwise go untested. Every process started here is stopped by its own handle; every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.estimation_engine.conftest import free_port

SCRAPE_CONFIGS = REPO_ROOT / "gitops" / "prometheus" / "scrape-configs.yaml"
ENGINE_JOB = "estimation-engine"
START_BOUND = 30.0
# Bounds against a hang, not timings: under `make test` on 2 shared cores an engine's start (imports, model
# load, fast-path check) has been seen to take over a minute while the other worker trains models.
ENGINE_READY_BOUND = 240.0
SAMPLES_BOUND = 180.0


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found:
        return found
    reason = "the Prometheus binary is missing: `apt-get install prometheus` (Debian; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the canary analysis against a real Prometheus")
    pytest.skip(reason)


@dataclass(frozen=True)
class PodTarget:
    """An engine on 127.0.0.1 posing as one pod of the cluster: the labels Kubernetes discovery would give."""

    address: str
    pod: str
    pod_template_hash: str
    namespace: str = "estimation-engine"

    def discovery_labels(self) -> dict[str, str]:
        return {
            "__meta_kubernetes_namespace": self.namespace,
            "__meta_kubernetes_pod_name": self.pod,
            "__meta_kubernetes_pod_phase": "Running",
            "__meta_kubernetes_pod_container_port_name": "http",
            "__meta_kubernetes_pod_label_app_kubernetes_io_name": "estimation-engine",
            "__meta_kubernetes_pod_label_app_kubernetes_io_component": "server",
            "__meta_kubernetes_pod_label_rollouts_pod_template_hash": self.pod_template_hash,
            "__meta_kubernetes_pod_label_environment": "prod",
        }


def scrape_config_for(targets: list[PodTarget], interval: str) -> dict:
    """gitops/'s scrape configuration with discovery replaced by static targets carrying the same
    ``__meta_kubernetes_*`` labels, so its relabelling runs as in the cluster."""
    config = yaml.safe_load(SCRAPE_CONFIGS.read_text())
    [engine] = [job for job in config["scrape_configs"] if job["job_name"] == ENGINE_JOB]
    engine.pop("kubernetes_sd_configs")
    engine["scrape_interval"] = interval
    engine["scrape_timeout"] = interval
    engine["static_configs"] = [
        {"targets": [target.address], "labels": target.discovery_labels()} for target in targets
    ]
    return {"global": {"scrape_interval": interval}, "scrape_configs": [engine]}


@dataclass
class RunningPrometheus:
    url: str
    process: subprocess.Popen
    log_path: Path

    def query(self, promql: str) -> list[float]:
        """An instant query at now, as Argo Rollouts' provider makes it: the vector's values."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        data = answer["data"]
        assert data["resultType"] in ("vector", "scalar"), data
        if data["resultType"] == "scalar":
            return [float(data["result"][1])]
        return [float(sample["value"][1]) for sample in data["result"]]

    def wait_for_samples(self, job: str, targets: int, samples: int, bound: float) -> None:
        """Until every target of ``job`` has been scraped ``samples`` times (bounded by ``bound`` s)."""
        deadline = time.monotonic() + bound
        promql = f'count_over_time(up{{job="{job}"}}[5m]) >= {samples}'
        while len(self.query(promql)) < targets:
            assert time.monotonic() < deadline, f"Prometheus did not scrape {targets} targets in time"
            assert self.process.poll() is None, self.log_path.read_text()[-2000:]
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_prometheus(config: dict, folder: Path) -> RunningPrometheus:
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = folder / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config_path}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RunningPrometheus(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_BOUND
    while True:
        try:
            if httpx.get(f"{running.url}/-/ready", timeout=2).status_code == 200:
                return running
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            raise AssertionError(f"Prometheus did not start:\n{log_path.read_text()[-2000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def prometheus_factory(tmp_path_factory) -> Iterator:
    started: list[RunningPrometheus] = []

    def start(config: dict) -> RunningPrometheus:
        running = start_prometheus(config, tmp_path_factory.mktemp("prometheus"))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
