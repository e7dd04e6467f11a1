"""Shared fixtures: real components on temporary state.

Everything here is real — scikit-learn training on a slice of the Ames data, the MLflow registry on a
SQLite file, git with a bare remote — only smaller and under ``tmp_path``, so tests are fast and never
touch the repository's own ``.mlops/``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from delivery.container_images import ImageReference
from delivery.git import git
from delivery.gitops_remote import GitopsRemote, ensure_local_remote
from delivery.pull_requests.local import LocalPullRequests
from model_contract.artifact import artifact_digest
from model_contract.environment_registries import EnvironmentRegistries
from model_contract.local_state import sqlite_uri
from model_contract.pins import ENVIRONMENTS, ModelPin, model_pin_path
from model_contract.registry import ModelRegistry
from training.config import DEFAULT_CONFIG, TrainingConfig, load_config

REPO_ROOT = Path(__file__).resolve().parent.parent
AMES = REPO_ROOT / "training" / "data" / "ames.csv.gz"
SLICE_ROWS = 500
MODEL_NAME = "ames-price"


@pytest.fixture(scope="session")
def ames() -> pd.DataFrame:
    return pd.read_csv(AMES)


def small_config_dict(data_file: str, seed: int = 42) -> dict:
    """The shipped config, made fast: a data slice and few boosting rounds; otherwise the real thing."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["data"]["source"] = data_file
    raw["split"]["seed"] = seed
    hgb, huber = raw["model"]["estimators"]
    hgb["params"].update(max_iter=25, learning_rate=0.15)
    huber["params"].update(max_iter=150)
    raw["intervals"]["price_bands"] = 2
    return raw


def write_small_config(folder: Path, ames: pd.DataFrame, seed: int = 42, rows: int = SLICE_ROWS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ames.sample(n=rows, random_state=seed).to_csv(folder / "slice.csv", index=False)
    path = folder / f"config-{seed}.yaml"
    path.write_text(yaml.safe_dump(small_config_dict("slice.csv", seed)))
    return path


@pytest.fixture
def small_config(tmp_path: Path, ames: pd.DataFrame) -> TrainingConfig:
    return load_config(write_small_config(tmp_path / "config", ames))


class RecordingContainerRegistries:
    """Azure Container Registry stand-in: which image digests each registry holds, and the imports asked."""

    def __init__(self) -> None:
        self.images: set[str] = set()
        self.imports: list[tuple[str, str, str]] = []

    def contains(self, image: ImageReference) -> bool:
        return str(image) in self.images

    def copy(self, source: ImageReference, target_host: str, source_env: str) -> None:
        if str(source) not in self.images:
            from delivery.container_images import ImageImportError

            raise ImageImportError(f"az acr import: {source} does not exist")
        self.imports.append((str(source), target_host, source_env))
        self.images.add(str(source.in_registry(target_host)))


@dataclass
class Workspace:
    """A throwaway project: its own state folder, gitops remote, PR records and a registry per environment."""

    root: Path
    state: Path
    remote: GitopsRemote
    prs: LocalPullRequests
    registries: EnvironmentRegistries
    images: RecordingContainerRegistries

    @property
    def registry(self) -> ModelRegistry:
        """dev's registry, where training registers."""
        return self.registries.registry("dev")

    def services(self, preview=None):
        from delivery.services import Services

        return Services(self.registries, self.remote, self.prs, preview, self.images)

    def pin(self, env: str) -> ModelPin:
        return self.remote.read_pins()[env]

    def push_pin(self, env: str, pin: ModelPin) -> None:
        """Change a pin directly on the remote's main branch, as a person merging by hand would."""
        previous = self.remote.branch_head("main")
        with self.remote.checkout() as checkout:
            checkout.commit_on_branch(
                "main", {str(model_pin_path(env)): pin.render()}, f"Pin {pin.describe()} in {env}"
            )
            checkout.push("main", expected_remote=previous)

    def register_version(self, metrics: dict[str, float] | None = None, env: str = "dev") -> int:
        """A registry version without training: a small real artifact folder whose sha256 is recorded, for
        tests of pin changes and copies (which read records and move bytes, but never load the model)."""
        import json
        import tempfile

        registry = self.registries.registry(env)
        with tempfile.TemporaryDirectory() as folder:
            artifact = Path(folder) / "model"
            artifact.mkdir()
            (artifact / "estimation.json").write_text(
                json.dumps({"made": "by the tests", "metrics": metrics})
            )
            (artifact / "model.pkl").write_bytes(os.urandom(64))  # each version its own bytes
            run_id, uri = registry.upload(artifact, MODEL_NAME, "stub", {})
            tags = {"artifact_sha256": artifact_digest(artifact), "lineage_key": run_id,
                    "metrics": json.dumps(metrics or {"rmse_log": 0.12})}  # fmt: skip
            return registry.register(MODEL_NAME, run_id, uri, tags).version

    def remote_log(self) -> list[str]:
        return git(["log", "--all", "--format=%H %s"], cwd=self.state / "gitops.git").splitlines()


def make_project(root: Path) -> Path:
    """A git repository holding the repository's gitops/ with "no model yet" pins, like a fresh clone."""
    shutil.copytree(REPO_ROOT / "gitops", root / "gitops")
    for env in ENVIRONMENTS:
        (root / str(model_pin_path(env))).write_text(ModelPin(MODEL_NAME, None).render())
    git(["init", "--quiet", "-b", "main", str(root)])
    git(["add", "--all"], cwd=root)
    git(["commit", "--quiet", "-m", "Fresh project"], cwd=root)
    return root


@functools.cache
def empty_mlflow_db() -> Path:
    """A migrated, empty MLflow database: creating the schema costs seconds, copying it nothing."""
    folder = Path(tempfile.mkdtemp(prefix="mlflow-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    ModelRegistry(f"sqlite:///{folder / 'mlflow.db'}").client.search_registered_models()
    return folder / "mlflow.db"


def make_workspace(base: Path) -> Workspace:
    root = make_project(base / "project")
    state = base / "state"
    remote = ensure_local_remote(state / "gitops.git", root)
    registries = {}
    for env in ENVIRONMENTS:  # each environment its own registry, as in .mlops/registries/<env>/
        database = state / "registries" / env / "mlflow.db"
        database.parent.mkdir(parents=True)
        shutil.copyfile(empty_mlflow_db(), database)
        registries[env] = ModelRegistry(sqlite_uri(database))
    prs = LocalPullRequests(state / "pull-requests.json", remote)
    return Workspace(
        root, state, remote, prs, EnvironmentRegistries.of(registries), RecordingContainerRegistries()
    )


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "state"))
    return make_workspace(tmp_path)


@dataclass(frozen=True)
class RegisteredModels:
    """Two versions of the model registered by the real training code, for the engine's tests."""

    tracking_uri: str
    model_name: str
    versions: tuple[int, ...]
    state_dir: Path
    sample_rows: tuple[dict, ...]


@pytest.fixture(scope="session")
def registered_models(
    tmp_path_factory: pytest.TempPathFactory, ames: pd.DataFrame
) -> Iterator[RegisteredModels]:
    from training.progress import Progress
    from training.runner import run

    base = tmp_path_factory.mktemp("registered")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOPS_HOME", str(base / "state"))
        space = make_workspace(base)
        quiet = Progress(lambda _: None)
        versions = []
        for seed in (1, 2):  # different slices: different lineage, so each run registers a version
            config = load_config(write_small_config(base / "config", ames, seed=seed))
            outcome = run(config, "dev", space.services(), force=True, progress=quiet)
            versions.append(outcome.registered.version)
        records = ames.drop(columns="Sale_Price").head(5).to_dict("records")
        rows = [{key: value for key, value in row.items() if pd.notna(value)} for row in records]
        yield RegisteredModels(
            space.registry.tracking_uri, MODEL_NAME, tuple(versions), space.state, tuple(rows)
        )
    shutil.rmtree(base, ignore_errors=True)


@contextmanager
def stalled_registry() -> Iterator[str]:
    """A registry URL on 127.0.0.1 that accepts connections and never answers (a hung server).

    The listening socket is never accepted from: the kernel completes the handshakes into its backlog and
    every request then waits for an answer that does not come. Closed on exit.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def refusing_registry() -> str:
    """A registry URL on 127.0.0.1 where nothing listens: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"
