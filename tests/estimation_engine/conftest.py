"""Engines for the tests: real servers on 127.0.0.1 serving models registered by the real training code.

Most tests talk to engines run by uvicorn on a thread of the test process (fast to start: the imports are
paid once). Behaviour that needs a process of its own — exit codes, SIGTERM — runs
``python -m estimation_engine serve`` as a subprocess. Every server is stopped by its own handle.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from estimation_engine.api.app import create_app
from estimation_engine.settings import EngineSettings
from model_contract.artifact import PriceModel, load_model_artifact
from model_contract.registry import ModelRegistry
from tests.conftest import RegisteredModels

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


@dataclass
class RunningEngine:
    """An engine served by uvicorn on a thread of this process."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def state(self):
        return self.server.config.app.state.engine  # the FastAPI app (no middleware wrapper at this level)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def wait_loaded(self) -> None:
        assert self.state.wait_loaded(START_TIMEOUT), "model did not finish loading"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def engine_env(models: RegisteredModels, cache_dir: Path, **overrides: str) -> dict[str, str]:
    """Settings for an engine pinned to the first registered version of the test registry."""
    env = {
        "MODEL_NAME": models.model_name,
        "MODEL_VERSION": str(models.versions[0]),
        "MLFLOW_TRACKING_URI": models.tracking_uri,
        "ENGINE_MODEL_CACHE_DIR": str(cache_dir),
        "ENGINE_LOG_LEVEL": "WARNING",
    }
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def start_engine(env: Mapping[str, str], wait: bool = True) -> RunningEngine:
    """Start an in-process engine on a free port; with ``wait``, return once loading has finished."""
    settings = EngineSettings.from_env(env)
    app = create_app(settings)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "engine did not start"
        time.sleep(0.02)
    engine = RunningEngine(f"http://127.0.0.1:{port}", server, thread)
    if wait:
        engine.wait_loaded()
    return engine


@pytest.fixture
def engine_factory() -> Iterator:
    """Start engines within a test; all are stopped at its end."""
    started: list[RunningEngine] = []

    def start(env: Mapping[str, str], wait: bool = True) -> RunningEngine:
        engine = start_engine(env, wait)
        started.append(engine)
        return engine

    yield start
    for engine in started:
        engine.stop()


@pytest.fixture(scope="session")
def engine(
    registered_models: RegisteredModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningEngine]:
    """The engine most tests share: pinned to the first of the two registered versions."""
    running = start_engine(engine_env(registered_models, tmp_path_factory.mktemp("engine-cache")))
    yield running
    running.stop()


@pytest.fixture
def http(engine: RunningEngine) -> Iterator[httpx.Client]:
    with engine.client() as client:
        yield client


@pytest.fixture(scope="session")
def reference_models(
    registered_models: RegisteredModels, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, PriceModel]:
    """Each registered version loaded directly with the training code's loader (the reference numbers)."""
    registry = ModelRegistry(registered_models.tracking_uri)
    folder = tmp_path_factory.mktemp("reference")
    loaded = {}
    for version in registered_models.versions:
        record = registry.get(registered_models.model_name, version)
        artifact = registry.download(record, folder / f"v{version}")
        loaded[version] = load_model_artifact(artifact, record.sha256)
    return loaded


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EngineProcess:
    """``python -m estimation_engine serve`` in a subprocess, with its output captured to a file."""

    process: subprocess.Popen
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_live(self) -> None:
        self.wait_for("/health/live")

    def wait_for(self, route: str, timeout: float = START_TIMEOUT) -> None:
        """Poll ``route`` until it answers 200; fail with the engine's log if it exits or never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"engine exited early:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}{route}", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{route} not answering 200 after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def spawn_engine(env: Mapping[str, str], log_path: Path) -> EngineProcess:
    """``python -m estimation_engine serve`` on a free loopback port with ``env`` (and none of this
    process's MODEL_*/ENGINE_* variables), its output in ``log_path``; the caller stops it."""
    port = free_port()
    child_env = {key: value for key, value in os.environ.items() if not key.startswith(("MODEL_", "ENGINE_"))}
    child_env.update(env)
    child_env.pop("MLOPS_HOME", None)
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "estimation_engine", "serve", "--port", str(port)],
            cwd=REPO_ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return EngineProcess(process, f"http://127.0.0.1:{port}", log_path)


@pytest.fixture
def engine_process(tmp_path: Path) -> Iterator:
    """Start engine subprocesses within a test; each is stopped by its PID at the end."""
    started: list[EngineProcess] = []

    def start(env: Mapping[str, str]) -> EngineProcess:
        handle = spawn_engine(env, tmp_path / f"engine-{len(started)}.log")
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


def body_with(row: dict, raw_members: bytes, key: bytes = b"properties") -> bytes:
    """A JSON body of one property carrying members written byte for byte: literals json.dumps never
    writes (invalid UTF-8, escapes, -0, huge integers)."""
    return b'{"' + key + b'": [' + json.dumps(row).encode()[:-1] + b", " + raw_members + b"}]}"
