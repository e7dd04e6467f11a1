"""The model registry: MLflow's registry API, on a local SQLite file by default, Azure ML in the cloud.

Training writes versions here (``register``); the estimation engine and the gate read them (``get``,
``download``). The registry owns the rule that a version is only trusted when its artifact matches the
sha256 recorded when it was registered.

MLflow is imported lazily so that importing this module costs nothing until the registry is used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.artifact import artifact_digest
from training.local_state import default_tracking_uri

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_SHA256 = "artifact_sha256"
TAG_LINEAGE = "lineage_key"
TAG_RUN_ID = "run_id"
TAG_METRICS = "metrics"
TAG_FINGERPRINT = "data_fingerprint"
TAG_CONFIG = "training_config"
TAG_GIT_COMMIT = "git_commit"
TAG_SIGNATURE = "signature"


class RegistryError(RuntimeError):
    """The registry cannot be reached or answered something unusable."""


class ModelNotFoundError(RegistryError):
    """The name or version does not exist in the registry."""


class ChecksumMismatchError(RegistryError):
    """The downloaded artifact is not the one registered: never load it."""


@dataclass(frozen=True)
class RegisteredVersion:
    """One immutable model version, as the registry records it."""

    name: str
    version: int
    source: str
    run_id: str | None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def sha256(self) -> str | None:
        return self.tags.get(TAG_SHA256)

    @property
    def metrics(self) -> dict[str, float]:
        return json.loads(self.tags.get(TAG_METRICS, "{}"))


class ModelRegistry:
    """A thin, typed face on MLflow's registry client."""

    def __init__(self, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.registry_uri = registry_uri or self.tracking_uri
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        return self._client

    def get(self, name: str, version: int) -> RegisteredVersion:
        """The registry's record of ``name`` version ``version``; ModelNotFoundError if it has none."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version(name, str(version))
        except MlflowException as error:
            if _is_not_found(error):
                raise ModelNotFoundError(
                    f"model {name!r} version {version} is not in the registry"
                ) from error
            raise RegistryError(
                f"registry {self.registry_uri} failed to answer for {name} v{version}: {error}"
            ) from error
        except Exception as error:  # network and driver errors come in many types
            raise RegistryError(f"registry {self.registry_uri} is unreachable: {error}") from error
        return _record(found)

    def find(self, name: str, tag: str, value: str) -> RegisteredVersion | None:
        """The newest version of ``name`` whose tag equals ``value`` (for idempotent registration)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(
                f"name = '{_quote(name)}' and tag.`{tag}` = '{_quote(value)}'"
            )
        except MlflowException as error:
            if _is_not_found(error):
                return None
            raise RegistryError(f"registry {self.registry_uri} search failed: {error}") from error
        records = sorted((_record(v) for v in found), key=lambda r: r.version)
        return records[-1] if records else None

    def register(self, name: str, run_id: str, source: str, tags: Mapping[str, str]) -> RegisteredVersion:
        """Create a version, unless one already exists for this run or this lineage (then return it)."""
        for key, value in ((TAG_RUN_ID, run_id), (TAG_LINEAGE, tags.get(TAG_LINEAGE))):
            if value and (existing := self.find(name, key, value)):
                return existing
        try:
            self._ensure_registered_model(name)
            created = self.client.create_model_version(
                name, source, run_id=run_id, tags={**tags, TAG_RUN_ID: run_id}, await_creation_for=60
            )
        except Exception as error:  # permissions, network and store errors come in many types
            raise RegistryError(
                f"registry {self.registry_uri} refused to register {name}: {error}"
            ) from error
        return _record(created)

    def download(self, version: RegisteredVersion, destination: Path) -> Path:
        """Download the version's artifact into ``destination`` and verify its sha256 there.

        The files land in a temporary sibling first and are moved into place only once verified, so a
        half-downloaded or tampered folder never sits where a loader would pick it up.
        """
        import mlflow.artifacts

        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if not version.sha256:
            raise RegistryError(
                f"{version.name} v{version.version} has no {TAG_SHA256} tag: cannot be verified"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".download-", dir=destination.parent))
        try:
            fetched = self._fetch(version, staging, mlflow.artifacts.download_artifacts)
            actual = artifact_digest(fetched)
            if actual != version.sha256:
                raise ChecksumMismatchError(
                    f"checksum mismatch for {version.name} v{version.version}: "
                    f"registered sha256 {version.sha256}, downloaded {actual}"
                )
            if destination.exists():
                shutil.rmtree(destination)
            fetched.rename(destination)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return destination

    def _fetch(self, version: RegisteredVersion, staging: Path, download: Any) -> Path:
        try:
            return Path(
                download(artifact_uri=version.source, dst_path=str(staging), tracking_uri=self.tracking_uri)
            )
        except Exception as error:  # each artifact store raises its own error types
            raise RegistryError(
                f"cannot download {version.name} v{version.version} from {version.source}: {error}"
            ) from error

    def _ensure_registered_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as error:
            if not _is_not_found(error):
                raise
            self.client.create_registered_model(name, description="Property price estimates with ranges.")


def _record(found: Any) -> RegisteredVersion:
    return RegisteredVersion(
        name=found.name,
        version=int(found.version),
        source=found.source,
        run_id=found.run_id,
        tags=dict(found.tags or {}),
    )


def _is_not_found(error: Exception) -> bool:
    """The registry answered "no such model or version" (not: "no such endpoint", a wrong URI)."""
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
