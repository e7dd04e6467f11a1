"""Loading the pinned model: readiness, the pin honoured, checksums enforced, failures named, the cache."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from estimation_engine.model import engine_state, model_loading
from estimation_engine.settings import EngineSettings
from model_contract.registry import TAG_LINEAGE, TAG_SHA256, ModelRegistry
from tests.conftest import RegisteredModels, stalled_registry
from tests.estimation_engine.conftest import engine_env, free_port


def ready(engine) -> httpx.Response:
    with engine.client() as client:
        return client.get("/health/ready")


def served_version(engine) -> dict:
    with engine.client() as client:
        return client.get("/v1/model").json()


def test_not_ready_until_the_model_is_loaded_then_ready(
    engine_factory, registered_models: RegisteredModels, tmp_path, monkeypatch
):
    release = threading.Event()
    real_load = engine_state.load_pinned_model

    def held_load(settings):
        assert release.wait(30), "test never released the load"
        return real_load(settings)

    monkeypatch.setattr(engine_state, "load_pinned_model", held_load)
    engine = engine_factory(engine_env(registered_models, tmp_path / "cache"), wait=False)
    with engine.client() as client:
        assert client.get("/health/live").status_code == 200
        loading = client.get("/health/ready")
        assert loading.status_code == 503 and loading.json()["status"] == "loading"
        refused = client.post("/v1/estimate", json={"properties": [registered_models.sample_rows[0]]})
        assert refused.status_code == 503 and "still loading" in refused.json()["message"]
        assert client.get("/v1/model").status_code == 503
        release.set()
        engine.wait_loaded()
        answer = client.get("/health/ready")
        assert answer.status_code == 200
        assert answer.json()["model"]["version"] == registered_models.versions[0]
        assert "engine_ready 1.0" in client.get("/metrics").text


@pytest.mark.parametrize("which", [0, 1])
def test_the_pinned_version_is_served_not_the_latest(
    engine_factory, registered_models: RegisteredModels, reference_models, tmp_path, which
):
    version = registered_models.versions[which]
    other = registered_models.versions[1 - which]
    engine = engine_factory(engine_env(registered_models, tmp_path / "cache", MODEL_VERSION=str(version)))
    assert served_version(engine)["version"] == version
    rows = list(registered_models.sample_rows)
    with engine.client() as client:
        body = client.post("/v1/estimate", json={"properties": rows}).json()
    assert body["model"]["version"] == version
    prices = [item["price"] for item in body["estimates"]]
    assert prices == reference_models[version].estimate(reference_models[version].frame(rows)).price.tolist()
    assert prices != reference_models[other].estimate(reference_models[other].frame(rows)).price.tolist()


def register_tampered_copy(models: RegisteredModels, folder: Path) -> tuple[str, int]:
    """A new version (under its own name) whose files no longer match the sha256 recorded at registration."""
    registry = ModelRegistry(models.tracking_uri)
    original = registry.get(models.model_name, models.versions[0])
    copy = registry.download(original, folder / "copy")
    client = registry.client
    experiment = client.create_experiment(
        f"tampered-{uuid.uuid4().hex}", artifact_location=(folder / "runs").as_uri()
    )
    run = client.create_run(experiment)
    name = "ames-price-tampered"
    tags = {TAG_SHA256: original.sha256, TAG_LINEAGE: uuid.uuid4().hex}
    version = registry.register(name, run.info.run_id, copy.as_uri(), tags).version
    card = copy / "estimation.json"
    card.write_text(card.read_text() + "\n")  # one byte more: a different checksum, still a valid card
    return name, version


def test_checksum_mismatch_is_refused_and_nothing_is_served(
    engine_factory, registered_models: RegisteredModels, tmp_path
):
    name, version = register_tampered_copy(registered_models, tmp_path)
    engine = engine_factory(
        engine_env(registered_models, tmp_path / "cache", MODEL_NAME=name, MODEL_VERSION=str(version))
    )
    answer = ready(engine)
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "failed" and body["reason"] == "checksum-mismatch"
    assert "checksum mismatch" in body["message"] and f"v{version}" in body["message"]
    with engine.client() as client:
        refused = client.post("/v1/estimate", json={"properties": [registered_models.sample_rows[0]]})
        assert refused.status_code == 503 and "checksum-mismatch" in refused.json()["message"]
        assert (
            'engine_model_load_failures_total{reason="checksum-mismatch"} 1.0' in client.get("/metrics").text
        )
    assert not any((tmp_path / "cache").rglob("manifest.json")), "a refused download must not be cached"


def test_unknown_version_fails_with_not_found(engine_factory, registered_models: RegisteredModels, tmp_path):
    engine = engine_factory(engine_env(registered_models, tmp_path / "cache", MODEL_VERSION="99"))
    body = ready(engine).json()
    assert body["reason"] == "not-found"
    assert "'ames-price' version 99 does not exist" in body["message"]


def test_empty_pin_means_no_model_yet(engine_factory, registered_models: RegisteredModels, tmp_path):
    engine = engine_factory(engine_env(registered_models, tmp_path / "cache", MODEL_VERSION=""))
    body = ready(engine).json()
    assert (body["status"], body["reason"]) == ("failed", "not-pinned")
    assert "MODEL_VERSION is empty" in body["message"]


def test_unreachable_registry_fails_with_its_address(
    engine_factory, registered_models: RegisteredModels, tmp_path
):
    address = f"http://127.0.0.1:{free_port()}"
    env = engine_env(
        registered_models, tmp_path / "cache", MLFLOW_TRACKING_URI=address, REGISTRY_RETRY_SECONDS="5"
    )
    engine = engine_factory(env)
    body = ready(engine).json()
    assert body["reason"] == "registry-unreachable"
    assert address in body["message"]


def test_a_stalled_registry_leaves_the_engine_unready_within_its_retry_budget(
    engine_factory, registered_models: RegisteredModels, tmp_path
):
    with stalled_registry() as address:
        env = engine_env(
            registered_models, tmp_path / "cache", MLFLOW_TRACKING_URI=address, REGISTRY_RETRY_SECONDS="3"
        )
        started = time.monotonic()
        engine = engine_factory(env, wait=False)
        assert ready(engine).json()["status"] == "loading"  # live, not ready, while it waits
        engine.wait_loaded()
        elapsed = time.monotonic() - started
        body = ready(engine).json()
    assert (body["status"], body["reason"]) == ("failed", "registry-unreachable")
    assert f"registry {address} is unreachable: no answer within 1 attempts of up to 3 s" in body["message"]
    assert elapsed < 3 + 20  # the budget, plus importing MLflow on a loaded machine; not MLflow's 255 s


def test_second_start_loads_from_the_cache_after_checking_the_registry(
    engine_factory, registered_models: RegisteredModels, tmp_path
):
    env = engine_env(registered_models, tmp_path / "cache")
    first = engine_factory(env)
    assert served_version(first)["loaded_from_cache"] is False
    first.stop()
    second = engine_factory(env)
    described = served_version(second)
    assert described["loaded_from_cache"] is True
    assert described["version"] == registered_models.versions[0]


@pytest.mark.parametrize("trust", ["registry", "cache"])
def test_a_tampered_cache_entry_is_never_served(
    engine_factory, registered_models: RegisteredModels, tmp_path, trust
):
    env = engine_env(registered_models, tmp_path / "cache", ENGINE_CACHE_TRUST=trust)
    first = engine_factory(env)
    expected_sha = served_version(first)["sha256"]
    first.stop()
    (card,) = (tmp_path / "cache").rglob("artifact/estimation.json")
    card.write_text(card.read_text() + "\n")
    second = engine_factory(env)
    described = served_version(second)
    assert described["loaded_from_cache"] is False, "the tampered copy must be replaced by a fresh download"
    assert described["sha256"] == expected_sha


def test_cache_trust_skips_the_registry_on_a_verified_hit(
    engine_factory, registered_models: RegisteredModels, tmp_path, monkeypatch
):
    env = engine_env(registered_models, tmp_path / "cache", ENGINE_CACHE_TRUST="cache")
    engine_factory(env).stop()

    def no_registry(*args, **kwargs):
        raise AssertionError("the registry was consulted despite ENGINE_CACHE_TRUST=cache")

    monkeypatch.setattr("estimation_engine.model.model_loading._registered", no_registry)
    described = served_version(engine_factory(env))
    assert described["loaded_from_cache"] is True


def test_model_path_serves_a_local_folder_without_a_registry(
    engine_factory, registered_models: RegisteredModels, tmp_path
):
    registry = ModelRegistry(registered_models.tracking_uri)
    record = registry.get(registered_models.model_name, registered_models.versions[1])
    folder = registry.download(record, tmp_path / "model")
    env = {
        "MODEL_PATH": str(folder),
        "MODEL_SHA256": record.sha256,
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",
    }
    engine = engine_factory(env)
    described = served_version(engine)
    assert described["sha256"] == record.sha256 and described["origin"] == str(folder)
    wrong = engine_factory({"MODEL_PATH": str(folder), "MODEL_SHA256": "0" * 64})
    assert ready(wrong).json()["reason"] == "checksum-mismatch"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ready(engine_factory({"MODEL_PATH": str(empty)})).json()["reason"] == "invalid-artifact"


def test_a_model_path_file_changed_after_the_digest_is_refused_not_run(
    registered_models: RegisteredModels, tmp_path, monkeypatch
):
    """MODEL_SHA256 is enforced on the bytes unpickled, not only on the folder as first hashed."""
    registry = ModelRegistry(registered_models.tracking_uri)
    pinned, other = (registry.get(registered_models.model_name, v) for v in registered_models.versions[:2])
    folder = registry.download(pinned, tmp_path / "model")
    swapped = registry.download(other, tmp_path / "other") / "model.pkl"
    (folder / "model.pkl").write_bytes(swapped.read_bytes())
    # As if the folder still matched when it was hashed and model.pkl was replaced just after.
    monkeypatch.setattr(model_loading, "artifact_digest", lambda _folder: pinned.sha256)
    settings = EngineSettings.from_env({"MODEL_PATH": str(folder), "MODEL_SHA256": pinned.sha256})
    with pytest.raises(model_loading.ModelLoadError, match="checksum mismatch") as failure:
        model_loading.load_pinned_model(settings)
    assert failure.value.reason is model_loading.LoadFailure.INVALID_ARTIFACT


def test_without_a_registry_uri_the_training_pipelines_local_registry_is_used(
    engine_factory, registered_models: RegisteredModels, monkeypatch
):
    """`make demo` then `serve` with dev's model.env: no MLFLOW_TRACKING_URI, the embedded default."""
    monkeypatch.setenv("MLOPS_HOME", str(registered_models.state_dir))
    pin = {"MODEL_NAME": registered_models.model_name, "MODEL_VERSION": str(registered_models.versions[1])}
    engine = engine_factory(pin)
    described = served_version(engine)
    assert described["version"] == registered_models.versions[1]
    assert (
        described["origin"] == f"sqlite:///{registered_models.state_dir / 'registries' / 'dev' / 'mlflow.db'}"
    )
    assert any((registered_models.state_dir / "engine-cache").rglob("manifest.json"))
