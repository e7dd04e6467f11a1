"""A migrated, empty MLflow database to copy into each test workspace.

Creating the SQLite schema (MLflow's migrations) costs seconds per database; copying a migrated empty one
costs nothing and leaves every test its own registry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from training.registry import ModelRegistry


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    ModelRegistry(f"sqlite:///{path}").client.search_registered_models()
    return path


@pytest.fixture
def workspace(workspace, empty_mlflow_db, monkeypatch):
    """The shared test workspace, with its registry database copied from the migrated template.

    ``mlflow.set_tracking_uri`` exports MLFLOW_TRACKING_URI to the process, so an earlier test in the same
    worker would otherwise leave the steps (which read it, as they do in Azure ML) on its own registry.
    """
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)
    target = workspace.state / "mlflow.db"
    if not target.exists():
        shutil.copyfile(empty_mlflow_db, target)
    return workspace
