"""Where the embedded default keeps its state: registry, runs, gitops remote, PR records, caches.

Everything lives under one folder, ``.mlops/`` at the repository root (git-ignored), so a fresh checkout
needs nothing started by hand and ``make clean-state`` forgets it all. ``MLOPS_HOME`` moves it (the tests
point it at a temporary folder).
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


def default_tracking_uri() -> str:
    """The local MLflow tracking and registry store: one SQLite file, nothing to start."""
    return f"sqlite:///{state_dir() / 'mlflow.db'}"


def artifact_root() -> Path:
    return state_dir() / "mlartifacts"


def gitops_remote_path() -> Path:
    """The bare repository standing in for GitHub or Azure Repos in the embedded default."""
    return state_dir() / "gitops.git"


def pull_request_store() -> Path:
    return state_dir() / "pull-requests.json"


def runs_dir() -> Path:
    """Per-run outputs that people read directly: decision records and plots."""
    return state_dir() / "runs"
