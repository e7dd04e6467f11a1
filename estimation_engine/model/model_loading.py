"""Getting the pinned model version onto local disk, verified, and loaded.

The rule this module enforces: the engine serves the version named by ``MODEL_NAME``/``MODEL_VERSION``
and nothing else, and only once the artifact's sha256 equals the one recorded when that version was
registered. There is no fallback to another version and no "latest": a failure leaves the engine without
a model, and the error says which of the possible causes it was.

Start-up cost: importing MLflow takes about a second, which a cache hit can avoid with
``ENGINE_CACHE_TRUST=cache`` (trust the sha256 recorded when the cached copy was downloaded and verified
against the registry; the folder is still re-hashed). The default, ``registry``, asks the registry on
every start, so a version whose registered checksum changed is never served from an older copy.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from estimation_engine.model.model_cache import ModelCache
from estimation_engine.settings import CacheTrust, EngineSettings
from model_contract.artifact import ArtifactError, PriceModel, artifact_digest, load_model_artifact
from model_contract.local_state import default_tracking_uri
from model_contract.registry import (
    TAG_SHA256,
    ModelNotFoundError,
    RegisteredVersion,
    RegistryError,
    RegistryUnreachableError,
)

log = logging.getLogger(__name__)


class LoadFailure(StrEnum):
    """Why the pinned model could not be loaded (a label on logs, metrics and /health/ready)."""

    NOT_PINNED = "not-pinned"
    NOT_FOUND = "not-found"
    REGISTRY_UNREACHABLE = "registry-unreachable"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    UNVERIFIABLE = "unverifiable"
    INVALID_ARTIFACT = "invalid-artifact"


class ModelLoadError(RuntimeError):
    def __init__(self, reason: LoadFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ServedModel:
    """The loaded model and what it is: the identity every response and metric carries."""

    model: PriceModel
    name: str
    version: int | None
    sha256: str
    origin: str  # the registry URI or the folder it was loaded from
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)
    from_cache: bool = False
    load_seconds: float = 0.0


def load_pinned_model(settings: EngineSettings) -> ServedModel:
    """Load what the settings pin; raises ModelLoadError naming the cause."""
    started = time.perf_counter()
    served = _load_folder(settings) if settings.model_path is not None else _load_from_registry(settings)
    return replace(served, load_seconds=time.perf_counter() - started)


def registry_uri(settings: EngineSettings) -> str:
    """The registry named by the settings; unset, the embedded default's dev registry (a laptop after
    ``make demo``). Each environment's overlay or stack names its own workspace."""
    return settings.registry_uri or settings.tracking_uri or default_tracking_uri("dev")


def _load_folder(settings: EngineSettings) -> ServedModel:
    folder = settings.model_path
    assert folder is not None
    try:
        # Reported as the served sha256, and compared first so that a mismatch is named as one.
        digest = artifact_digest(folder)
        if settings.model_sha256 and digest != settings.model_sha256:
            raise ModelLoadError(
                LoadFailure.CHECKSUM_MISMATCH,
                f"checksum mismatch for MODEL_PATH {folder}: MODEL_SHA256 is {settings.model_sha256}, "
                f"the folder has {digest}",
            )
        # The check that counts: load_model_artifact hashes the very bytes it unpickles, so a file
        # changed since the digest above is refused rather than run.
        model = load_model_artifact(folder, settings.model_sha256 or None)
    except ArtifactError as error:
        raise ModelLoadError(LoadFailure.INVALID_ARTIFACT, f"MODEL_PATH {folder}: {error}") from error
    return ServedModel(
        model=model,
        name=settings.model_name or model.card.model_name,
        version=settings.model_version,
        sha256=digest,
        origin=str(folder),
        run_id=model.card.training_run_id,
    )


def _load_from_registry(settings: EngineSettings) -> ServedModel:
    name, version = settings.model_name, settings.model_version
    assert name is not None
    if version is None:
        raise ModelLoadError(
            LoadFailure.NOT_PINNED,
            f"no version of {name} is pinned (MODEL_VERSION is empty: the environment has no model yet)",
        )
    uri = registry_uri(settings)
    cache = ModelCache(settings.cache_dir)
    cached = cache.lookup(uri, name, version)
    if cached is not None and settings.cache_trust is CacheTrust.CACHE:
        served = _load_cached(cached.artifact_dir, cached.record, cached.record.sha256, uri)
        if served is not None:
            return served
    record = _registered(settings, uri, name, version)
    if cached is not None and cached.record.sha256 == record.sha256:
        served = _load_cached(cached.artifact_dir, record, record.sha256, uri)
        if served is not None:
            return served
    cache.evict(uri, name, version)
    artifact = _download(settings, uri, record, cache.entry(uri, name, version) / "artifact")
    cache.store(uri, record, artifact)
    try:
        # The download was checked before it was moved into place; load_model_artifact reads the folder again
        # and checks the bytes it then unpickles against the sha256, so what runs is what was verified.
        model = load_model_artifact(artifact, record.sha256)
    except ArtifactError as error:
        raise ModelLoadError(LoadFailure.INVALID_ARTIFACT, f"{name} v{version}: {error}") from error
    return _served(model, record, uri, from_cache=False)


def _registered(settings: EngineSettings, uri: str, name: str, version: int) -> RegisteredVersion:
    from model_contract.registry import ModelRegistry  # the MLflow client is imported on first use

    registry = ModelRegistry(settings.tracking_uri or uri, settings.registry_uri)
    try:
        record = registry.get(name, version)
    except ModelNotFoundError as error:
        raise ModelLoadError(
            LoadFailure.NOT_FOUND, f"model {name!r} version {version} does not exist in registry {uri}"
        ) from error
    except RegistryUnreachableError as error:
        raise ModelLoadError(LoadFailure.REGISTRY_UNREACHABLE, str(error)) from error
    except RegistryError as error:
        raise ModelLoadError(LoadFailure.REGISTRY_UNREACHABLE, f"registry {uri} unusable: {error}") from error
    if not record.sha256:
        raise ModelLoadError(
            LoadFailure.UNVERIFIABLE,
            f"{name} v{version} in registry {uri} has no {TAG_SHA256} tag: it cannot be verified, so it is not served",
        )
    return record


def _download(settings: EngineSettings, uri: str, record: RegisteredVersion, destination: Path) -> Path:
    from model_contract.registry import ChecksumMismatchError, ModelRegistry

    registry = ModelRegistry(settings.tracking_uri or uri, settings.registry_uri)
    try:
        return registry.download(record, destination)
    except RegistryError as error:
        mismatch = isinstance(error, ChecksumMismatchError)
        reason = LoadFailure.CHECKSUM_MISMATCH if mismatch else LoadFailure.REGISTRY_UNREACHABLE
        raise ModelLoadError(reason, f"{record.name} v{record.version} from {uri}: {error}") from error
    except Exception as error:  # storage back-ends raise their own error types
        raise ModelLoadError(
            LoadFailure.REGISTRY_UNREACHABLE,
            f"{record.name} v{record.version}: downloading {record.source} from {uri} failed: {error}",
        ) from error


def _load_cached(
    artifact: Path, record: RegisteredVersion, sha256: str | None, uri: str
) -> ServedModel | None:
    """The cached copy if it still hashes to ``sha256``; None (and a log line) if not."""
    if not sha256:
        return None
    try:
        model = load_model_artifact(artifact, sha256)
    except ArtifactError as error:
        log.warning(
            "cached copy of %s v%s is not usable, downloading again: %s", record.name, record.version, error
        )
        return None
    return _served(model, record, uri, from_cache=True)


def _served(model: PriceModel, record: RegisteredVersion, uri: str, from_cache: bool) -> ServedModel:
    if model.card.model_name != record.name:
        log.warning(
            "model card names %r but the registry version is %s v%s: serving the pinned version",
            model.card.model_name,
            record.name,
            record.version,
        )
    return ServedModel(
        model=model,
        name=record.name,
        version=record.version,
        sha256=record.sha256 or "",
        origin=uri,
        run_id=record.run_id,
        tags=dict(record.tags),
        from_cache=from_cache,
    )
