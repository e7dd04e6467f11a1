"""Recording a training run in MLflow: parameters, metrics, plots, the decision and the model artifact.

Every run is recorded, registered or not, so a "no improvement" verdict can be audited later next to the
numbers that produced it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model_contract.local_state import sqlite_artifact_root
from model_contract.registry import registry_failure

MODEL_ARTIFACT_PATH = "model"


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    artifact_uri: str
    experiment_id: str

    @property
    def model_uri(self) -> str:
        return f"{self.artifact_uri}/{MODEL_ARTIFACT_PATH}"


@contextmanager
def tracked_run(
    tracking_uri: str, experiment: str, run_name: str, tags: Mapping[str, str]
) -> Iterator[TrackedRun]:
    """An MLflow run in ``experiment``; ended as FAILED if the body raises, FINISHED otherwise.

    MLflow's fluent API keeps the tracking URI in process-wide state (and exports MLFLOW_TRACKING_URI);
    both are put back afterwards so that nothing read later in the same process sees this run's store.
    """
    import mlflow

    previous = os.environ.get("MLFLOW_TRACKING_URI")  # set_tracking_uri keeps the two in step
    if (artifacts := sqlite_artifact_root(tracking_uri)) is not None:
        artifacts.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates its file, not its folder
    mlflow.set_tracking_uri(tracking_uri)
    try:
        try:
            experiment_id = _experiment_id(mlflow, tracking_uri, experiment)
            active = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=dict(tags))
        except Exception as error:  # the tracking store is the registry's: unreachable, or refusing
            raise registry_failure(tracking_uri, f"could not start the run {run_name!r}", error) from error
        with active as run:
            yield TrackedRun(run.info.run_id, run.info.artifact_uri, experiment_id)
    finally:
        mlflow.set_tracking_uri(previous)  # None unsets both


def _experiment_id(mlflow: Any, tracking_uri: str, name: str) -> str:
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # A SQLite store keeps its artifacts beside its database, not in ./mlruns of whatever folder we run from.
    location = sqlite_artifact_root(tracking_uri)
    return mlflow.create_experiment(name, artifact_location=location.as_uri() if location else None)


def log_params(params: Mapping[str, Any]) -> None:
    import mlflow

    flat = _flatten(params)
    mlflow.log_params({key: str(value)[:500] for key, value in flat.items()})


def log_metrics(metrics: Mapping[str, float], prefix: str = "") -> None:
    import mlflow

    mlflow.log_metrics({f"{prefix}{key}": value for key, value in metrics.items()})


def log_json(payload: Mapping[str, Any], name: str) -> None:
    import mlflow

    mlflow.log_text(json.dumps(payload, indent=2, default=str), name)


def log_folder(folder: Path, artifact_path: str) -> None:
    import mlflow

    mlflow.log_artifacts(str(folder), artifact_path)


def _flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(_flatten(item, f"{name}."))
        else:
            flat[name] = item
    return flat
