"""The shadow analysis judging real engines: a stable engine and candidates comparing with it, each
``python -m estimation_engine serve`` on 127.0.0.1, scraped by a real Prometheus through gitops/'s scrape
configuration while bounded load runs, judged by the AnalysisTemplates' own queries and conditions.

The candidates are trained by the real training code on the stable model's data (same slice, same config,
same train/calibration/test rows) with the sale prices scaled: by 2 % (a market that moved a little: sound)
and by 15 % (a model that would move every price by 15 %: it must fail). Training on log price, scaling the
target shifts every prediction by the same factor, so the candidates differ from the stable model by that
and nothing else, and the engine's comparison is what measures it. (The training job cuts rows by a hash
of their content, target included: the candidates' rows are cut as the unscaled rows are, or they would be
trained on other rows and differ from the stable model by more than the scaling.)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.analysis.argo_analysis import FAILED, SUCCESSFUL
from tests.analysis.conftest import ENGINE_READY_BOUND, PodTarget, RunningPrometheus
from tests.analysis.test_canary_analysis import (
    Load,
    _all,
    run_analysis,
    scraped_under_load,
    serving,  # noqa: F401 (fixtures)
    shadow,  # noqa: F401
    templates,  # noqa: F401
)
from tests.conftest import MODEL_NAME, make_workspace, write_small_config
from tests.estimation_engine.conftest import EngineProcess, spawn_engine

SHADOW_BOUND = 180.0
PRICE_SCALES = {"stable": 1.0, "sound": 1.02, "shifted": 1.15}


@dataclass(frozen=True)
class ScaledModels:
    tracking_uri: str
    versions: dict[str, int]  # by scenario
    rows: list[dict]


@pytest.fixture(scope="module")
def scaled_models(tmp_path_factory, ames: pd.DataFrame) -> Iterator[ScaledModels]:
    """The stable model and its two candidates, registered by the real training job in one registry."""
    from training import runner
    from training.config import load_config
    from training.progress import Progress
    from training.runner import run

    base = tmp_path_factory.mktemp("scaled")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_HOME", str(base / "state"))
        space = make_workspace(base)
        versions = {}
        for scenario, scale in PRICE_SCALES.items():
            data = ames.assign(Sale_Price=ames["Sale_Price"] * scale)
            patch.setattr(runner, "split_rows", functools.partial(_split_as_unscaled, scale=scale))
            config = load_config(write_small_config(base / scenario, data, seed=1))
            outcome = run(config, "dev", space.services(), force=True, progress=Progress(lambda _: None))
            versions[scenario] = outcome.registered.version
        records = ames.drop(columns="Sale_Price").sample(n=20, random_state=3).to_dict("records")
        rows = [{key: value for key, value in row.items() if pd.notna(value)} for row in records]
        yield ScaledModels(space.registry.tracking_uri, versions, rows)


def _split_as_unscaled(dataset, config, scale: float):
    from training.train import split_rows

    return split_rows(dataclasses.replace(dataset, target=dataset.target / scale), config)


def _engine_env(models: ScaledModels, scenario: str, cache: Path) -> dict[str, str]:
    env = {
        "MODEL_NAME": MODEL_NAME,
        "MODEL_VERSION": str(models.versions[scenario]),
        "MLFLOW_TRACKING_URI": models.tracking_uri,
        "ENGINE_MODEL_CACHE_DIR": str(cache),
        "ENGINE_LOG_LEVEL": "WARNING",
    }
    if scenario != "stable":  # the canary compares with the version it replaces: the stable one
        env["SHADOW_MODEL_VERSION"] = str(models.versions["stable"])
    return env


def _wait_comparing(engine: EngineProcess) -> None:
    deadline = time.monotonic() + SHADOW_BOUND
    while "engine_shadow_compared_total{" not in httpx.get(f"{engine.url}/metrics", timeout=5).text:
        assert time.monotonic() < deadline, f"the shadow model did not load:\n{engine.log()}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def canary(prometheus_factory, scaled_models: ScaledModels, tmp_path_factory) -> Iterator[RunningPrometheus]:
    folder = tmp_path_factory.mktemp("shadow-engines")
    engines = {
        scenario: spawn_engine(
            _engine_env(scaled_models, scenario, folder / "cache"), folder / f"{scenario}.log"
        )
        for scenario in PRICE_SCALES
    }
    load = None
    try:
        for scenario, engine in engines.items():
            engine.wait_for("/health/ready", ENGINE_READY_BOUND)
            if scenario != "stable":
                _wait_comparing(engine)
        targets = [
            PodTarget(e.url.removeprefix("http://"), f"pod-{name}", name) for name, e in engines.items()
        ]
        body = json.dumps({"properties": scaled_models.rows[:5]}).encode()
        load = Load([], [engine.url for engine in engines.values()], body)
        yield scraped_under_load(prometheus_factory, targets, load)
    finally:
        if load is not None:
            load.stop()
        for engine in engines.values():
            engine.stop()


def test_a_sound_real_candidate_passes_the_shadow_and_serving_analysis(canary, serving, shadow):  # noqa: F811
    assert run_analysis(canary, shadow, "sound") == _all(shadow, SUCCESSFUL)
    assert run_analysis(canary, serving, "sound") == _all(serving, SUCCESSFUL)


def test_a_real_candidate_moving_prices_by_15_percent_fails_on_the_shadow_metrics(canary, serving, shadow):  # noqa: F811
    assert run_analysis(canary, shadow, "shifted") == {
        **_all(shadow, SUCCESSFUL),
        "shadow-median-abs-log-ratio": FAILED,
        "shadow-moved-share": FAILED,
    }
    assert run_analysis(canary, serving, "shifted") == _all(serving, SUCCESSFUL)  # it serves fine


def test_the_real_stable_engine_without_a_shadow_version_gives_the_shadow_analysis_nothing_to_judge(
    canary,
    shadow,  # noqa: F811
):
    assert run_analysis(canary, shadow, "stable") == _all(shadow, SUCCESSFUL)
    assert canary.query('count(engine_shadow_compared_total{rollouts_pod_template_hash="stable"})') == []


def test_the_real_candidates_compare_every_property_they_estimate(canary):
    """With ENGINE_SHADOW_SHARE at its default (1), comparisons keep pace with estimated properties."""
    for scenario in ("sound", "shifted"):
        selector = f'rollouts_pod_template_hash="{scenario}"'
        [compared] = canary.query(f"sum(engine_shadow_compared_total{{{selector}}})")
        [estimated] = canary.query(f"sum(engine_predictions_total{{{selector}}})")
        dropped = canary.query(f"sum(engine_shadow_dropped_total{{{selector}}})")
        # The comparison runs after the answer: at a scrape a few may still be queued, none dropped here.
        assert dropped == [0.0] and 0.9 * estimated <= compared <= estimated
