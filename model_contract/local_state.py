"""Where the embedded default keeps its state: registries, runs, gitops remote, PR records, caches.

Everything lives under one folder, ``.mlops/`` at the repository root (git-ignored), so a fresh checkout
needs nothing started by hand and ``make clean-state`` forgets it all. ``MLOPS_HOME`` moves it (the tests
point it at a temporary folder).

Each environment has its own registry, ``registries/<env>/`` (a SQLite MLflow store and its artifacts),
as each cloud environment has its own Azure ML workspace: a pin names a version in its environment's
registry, and a promotion copies the model from one registry into the next.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_ENV = "MLOPS_HOME"


def project_root() -> Path:
    """The repository this code was checked out in (the folder holding ``pyproject.toml``), else cwd."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def state_dir() -> Path:
    configured = os.environ.get(STATE_ENV)
    return Path(configured).resolve() if configured else project_root() / ".mlops"


def registry_dir(env: str) -> Path:
    """The folder of ``env``'s local registry: ``mlflow.db`` and ``mlartifacts/``."""
    return state_dir() / "registries" / env


def default_tracking_uri(env: str) -> str:
    """``env``'s local MLflow tracking and registry store: one SQLite file, nothing to start."""
    return sqlite_uri(registry_dir(env) / "mlflow.db")


def sqlite_uri(database: Path) -> str:
    return f"sqlite:///{database}"


def sqlite_artifact_root(tracking_uri: str) -> Path | None:
    """Where a SQLite store keeps its artifacts: ``mlartifacts/`` beside the database file.

    None for every other store (a tracking server or Azure ML decides where its artifacts go).
    """
    prefix = "sqlite:///"
    if not tracking_uri.startswith(prefix):
        return None
    return Path(tracking_uri.removeprefix(prefix)).parent / "mlartifacts"


def gitops_remote_path() -> Path:
    """The bare repository standing in for GitHub or Azure Repos in the embedded default."""
    return state_dir() / "gitops.git"


def pull_request_store() -> Path:
    return state_dir() / "pull-requests.json"


def runs_dir() -> Path:
    """Per-run outputs that people read directly: decision records and plots."""
    return state_dir() / "runs"
