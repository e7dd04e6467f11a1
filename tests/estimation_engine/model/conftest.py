"""What the shadow comparison's tests share: an engine comparing with the previous version, and reading
its shadow series off /metrics."""

from __future__ import annotations

import time

import pytest

from estimation_engine.model.shadow import ShadowComparison
from tests.estimation_engine.conftest import START_TIMEOUT, engine_env, start_engine

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


def drained(http, comparison: ShadowComparison, key: str) -> dict[str, float]:
    """The samples once no offer waits or is being compared and the compared counter has held for a second
    (bounded). An exchange may take longer than that on a busy machine: the shadow process runs at SCHED_IDLE."""
    deadline, last, held_since = time.monotonic() + WAIT_BOUND, None, time.monotonic()
    while True:
        found = shadow_samples(http)
        now = found[f"engine_shadow_compared_total{{{key}}}"]
        if now != last or not comparison.idle:
            last, held_since = now, time.monotonic()
        elif time.monotonic() - held_since >= 1.0:
            return found
        assert time.monotonic() < deadline, "the comparison did not drain"
        time.sleep(0.1)
