"""Serving benchmark: the estimation engine against the Azure ML inference server, same model, same load.

    .venv/bin/python benchmarks/engine/run.py [--seconds 10] [--out FILE]   (or: make bench-engine)

Everything lives under .bench/engine/ (git-ignored): a registry with the model trained by the real training
code on the shipped config and data (the production model: the shipped config's boosting rounds blended with a Huber
regression, on log price), the artifact folder for the Azure ML server, and that server's own virtual
environment (``azureml-inference-server-http`` pins its own dependencies, so it never goes into .venv).
Both servers get the same artifact, the same requests and the same load generator (loadgen.py), one after
the other on this machine. Figures are measured, not asserted; the machine's other load shows in them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.engine.loadgen import fetch, post_request, run_load  # noqa: E402

BENCH = REPO / ".bench" / "engine"
STATE = BENCH / "state"
AZML_VENV = BENCH / "azmlinfsrv-venv"
AZML_SERVER = "azureml-inference-server-http==1.5.1"
MODEL_NAME = "ames-price"
HOST = "127.0.0.1"
ENGINE_PORT, AZML_PORT = 18181, 18182
BOUND_SECONDS = 300


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    path: str  # the scoring route
    key: str  # the body's list key
    log: Path

    def body(self, rows: list[dict]) -> bytes:
        return json.dumps({self.key: rows}).encode()

    def request(self, rows: list[dict]) -> bytes:
        return post_request(HOST, self.port, self.path, self.body(rows))

    def prices(self, rows: list[dict]) -> list[float]:
        status, body = fetch(HOST, self.port, self.request(rows))
        assert status == 200, body[:500]
        answer = json.loads(body)
        return [e["price"] for e in answer["estimates"]] if "estimates" in answer else answer["result"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def python_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "ENGINE_", "MLFLOW_"))}
    env["MLOPS_HOME"] = str(STATE)
    return env


def ensure_model() -> tuple[str, int, str]:
    """(tracking URI, version, sha256) of the production model, trained by the real training code once
    per shipped config: a config change (new estimator settings) retrains it from a fresh registry."""
    from model_contract.registry import TAG_CONFIG, ModelNotFoundError, ModelRegistry
    from training.config import load_config

    database = STATE / "registries" / "dev" / "mlflow.db"  # dev's registry under MLOPS_HOME=STATE
    tracking = f"sqlite:///{database}"
    registry = ModelRegistry(tracking)
    if database.exists():
        try:
            record = registry.get(MODEL_NAME, 1)
            if record.tags.get(TAG_CONFIG) == load_config().as_yaml():
                return tracking, 1, record.sha256 or ""
        except ModelNotFoundError:
            pass
        shutil.rmtree(STATE)
    print("training the production model with the shipped config (about a minute)...", flush=True)
    subprocess.run(
        [sys.executable, "-m", "training", "run", "--env", "dev", "--force"],
        cwd=REPO,
        env=python_env(),
        check=True,
        timeout=BOUND_SECONDS * 3,
    )
    record = registry.get(MODEL_NAME, 1)
    return tracking, 1, record.sha256 or ""


def ensure_artifact(tracking: str, version: int) -> Path:
    """The registered artifact as a local folder for the Azure ML server: the same bytes the engine loads."""
    from model_contract.artifact import artifact_digest
    from model_contract.registry import ModelRegistry

    registry = ModelRegistry(tracking)
    record = registry.get(MODEL_NAME, version)
    folder = BENCH / f"model-v{version}"
    if not folder.is_dir() or artifact_digest(folder) != record.sha256:
        registry.download(record, folder)
    return folder


def ensure_azml_venv() -> Path:
    """The Azure ML server in its own venv, with this interpreter's numpy/pandas/scikit-learn (to unpickle)."""
    marker = AZML_VENV / ".installed"
    import sklearn

    pins = [f"numpy=={np.__version__}", f"pandas=={pd.__version__}", f"scikit-learn=={sklearn.__version__}"]
    wanted = " ".join([AZML_SERVER, *pins])
    if marker.exists() and marker.read_text() == wanted:
        return AZML_VENV
    print(f"installing {AZML_SERVER} into {AZML_VENV} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(AZML_VENV)], check=True)
    pip = [str(AZML_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, AZML_SERVER, *pins], check=True, timeout=BOUND_SECONDS * 2)
    marker.write_text(wanted)
    return AZML_VENV


def sample_rows(count: int) -> list[dict]:
    frame = pd.read_csv(REPO / "training" / "data" / "ames.csv.gz").drop(columns="Sale_Price")
    records = frame.sample(n=count, random_state=7, replace=count > len(frame)).to_dict("records")
    return [{k: v for k, v in row.items() if pd.notna(v)} for row in records]


def wait_until_ready(server: Server, started: float, ready_path: str, rows: list[dict]) -> dict[str, float]:
    """Seconds from process start to ready (``ready_path`` answers 200) and to the first estimate."""
    deadline = time.monotonic() + BOUND_SECONDS
    probe = f"GET {ready_path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log.read_text()[-3000:]}")
        try:
            if fetch(HOST, server.port, probe)[0] == 200:
                ready = time.perf_counter() - started
                server.prices(rows[:1])
                return {
                    "ready_s": round(ready, 2),
                    "first_estimate_s": round(time.perf_counter() - started, 2),
                }
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{server.name} never became ready:\n{server.log.read_text()[-3000:]}")


def ensure_port_free(port: int) -> None:
    """A server still listening from an earlier run would be measured instead of the new one."""
    import socket

    with socket.socket() as probe:
        if probe.connect_ex((HOST, port)) == 0:
            raise RuntimeError(f"port {port} is already in use: stop the process listening there first")


def start_engine(
    tracking: str, version: int, cache: Path, trust: str, rows: list[dict]
) -> tuple[Server, float]:
    env = python_env() | {
        "MODEL_NAME": MODEL_NAME,
        "MODEL_VERSION": str(version),
        "MLFLOW_TRACKING_URI": tracking,
        "ENGINE_MODEL_CACHE_DIR": str(cache),
        "ENGINE_CACHE_TRUST": trust,
    }
    return spawn_engine("engine", env, ENGINE_PORT, BENCH / f"engine-{trust}.log", rows)


def spawn_engine(
    name: str, env: dict[str, str], port: int, log: Path, rows: list[dict]
) -> tuple[Server, dict[str, float]]:
    """``python -m estimation_engine serve`` on ``port``, returned once ready, with its start timings."""
    ensure_port_free(port)
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "estimation_engine", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Server(name, process, port, "/v1/estimate", "properties", log)
    return server, _ready_or_stopped(server, started, "/health/ready", rows)


def start_azml(artifact: Path, sha256: str, rows: list[dict]) -> tuple[Server, dict]:
    env = python_env() | {
        "AZUREML_MODEL_DIR": str(artifact),
        "MODEL_SHA256": sha256,
        "ENGINE_REPO_ROOT": str(REPO),
    }
    log = BENCH / "azmlinfsrv.log"
    ensure_port_free(AZML_PORT)
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            str(AZML_VENV / "bin" / "azmlinfsrv"),
            "--entry_script",
            str(REPO / "benchmarks" / "engine" / "score.py"),
            "--port",
            str(AZML_PORT),
        ],
        cwd=BENCH,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    server = Server("azmlinfsrv", process, AZML_PORT, "/score", "data", log)
    return server, _ready_or_stopped(server, started, "/", rows)  # its root answers once init() ran


def _ready_or_stopped(server: Server, started: float, ready_path: str, rows: list[dict]) -> dict[str, float]:
    try:
        return wait_until_ready(server, started, ready_path, rows)
    except BaseException:
        server.stop()
        raise


def resident_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (gunicorn runs a master and workers)."""
    total_kb = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total_kb += int(
                next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
            )
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return round(total_kb / 1024, 1)


def measure(server: Server, rows: list[dict], seconds: float) -> dict:
    singles = [server.request([row]) for row in rows]
    run_load(HOST, server.port, singles, concurrency=4, seconds=2.0)  # warm up
    results = {}
    for concurrency in (1, 16):
        outcome = run_load(HOST, server.port, singles, concurrency=concurrency, seconds=seconds)
        results[f"single_c{concurrency}"] = outcome.summary()
        print(f"  {server.name} single c={concurrency}: {outcome.summary()}", flush=True)
    batches = [server.request(rows[i : i + 1000]) for i in range(0, 3000, 1000)]
    outcome = run_load(HOST, server.port, batches, concurrency=1, seconds=seconds * 3, stop_after=20)
    results["batch_1000"] = outcome.summary()
    print(f"  {server.name} 1000-property batch: {outcome.summary()}", flush=True)
    results["resident_mb_after_load"] = resident_mb(server.process.pid)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    parser.add_argument("--out", type=Path, default=BENCH / "results.json")
    args = parser.parse_args()
    BENCH.mkdir(parents=True, exist_ok=True)
    tracking, version, sha256 = ensure_model()
    artifact = ensure_artifact(tracking, version)
    ensure_azml_venv()
    rows = sample_rows(3000)
    report: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "model": {"name": MODEL_NAME, "version": version, "sha256": sha256},
    }

    cache = BENCH / "engine-cache"
    subprocess.run(["rm", "-rf", str(cache)], check=True)
    cold = {}
    for label, trust in (
        ("first_start_download", "registry"),
        ("cached_registry_checked", "registry"),
        ("cached_registry_checked_again", "registry"),
        ("cached_cache_trusted", "cache"),
        ("cached_cache_trusted_again", "cache"),
    ):
        server, timing = start_engine(tracking, version, cache, trust, rows)
        cold[label] = timing
        if label != "cached_cache_trusted_again":
            server.stop()  # (the last one is measured below and stopped there)
    print(f"engine cold start (s): {cold}", flush=True)
    time.sleep(2.0)  # let the fast-path check finish before measuring memory and load
    report["engine"] = {"cold_start": cold, "resident_mb_idle": resident_mb(server.process.pid)}
    check_rows = rows[:50]
    engine_prices = server.prices(check_rows)
    try:
        report["engine"].update(measure(server, rows, args.seconds))
    finally:
        server.stop()

    server, timing = start_azml(artifact, sha256, rows)
    report["azmlinfsrv"] = {"cold_start": timing, "resident_mb_idle": resident_mb(server.process.pid)}
    print(f"azmlinfsrv cold start (s): {timing}", flush=True)
    azml_prices = server.prices(check_rows)
    try:
        report["azmlinfsrv"].update(measure(server, rows, args.seconds))
    finally:
        server.stop()

    relative = np.abs(np.asarray(engine_prices) - np.asarray(azml_prices)) / np.asarray(azml_prices)
    report["same_numbers"] = {"rows": len(check_rows), "max_relative_difference": float(relative.max())}
    engine_c16 = report["engine"]["single_c16"]["requests_per_s"]
    azml_c16 = report["azmlinfsrv"]["single_c16"]["requests_per_s"]
    report["throughput_ratio_c16"] = round(engine_c16 / azml_c16, 2) if azml_c16 else None
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
