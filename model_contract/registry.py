"""The model registry: MLflow's registry API, on a local SQLite file by default, Azure ML in the cloud.

Training writes versions here (``register``); the estimation engine and the gate read them (``get``,
``download``); a promotion copies a version from one environment's registry into another's
(delivery/model_copy.py). The registry owns the rule that a version is only trusted when its artifact
matches the sha256 recorded when it was registered.

Only calls that Azure ML's MLflow support matrix lists are used (learn.microsoft.com, "Manage models
registry in Azure Machine Learning with MLflow"): versions are searched by model name, never by tag
(unsupported there), and tags are compared here; models are registered from a run's artifacts in the
same workspace (cross-workspace registration is unsupported, hence the copy).

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

from model_contract.artifact import artifact_digest
from model_contract.local_state import sqlite_artifact_root

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
# The run that trained the model. A copy's own run_id is the run that uploaded it into this registry.
TAG_TRAINING_RUN = "training_run_id"


class RegistryError(RuntimeError):
    """The registry cannot be reached or answered something unusable."""


class ModelNotFoundError(RegistryError):
    """The name or version does not exist in the registry."""


class ChecksumMismatchError(RegistryError):
    """The downloaded artifact is not the one registered: never load it."""


class RegistryUnreachableError(RegistryError):
    """The registry did not answer within the retry budget (see model_contract/registry_retries.py)."""


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

    @property
    def training_run_id(self) -> str | None:
        """The training run behind the model, also for a copy (whose run_id is the copy's upload run)."""
        return self.tags.get(TAG_TRAINING_RUN) or self.run_id

    def describe(self) -> str:
        return f"{self.name} v{self.version}"


class ModelRegistry:
    """A thin, typed face on MLflow's registry client."""

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or self.tracking_uri
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            for uri in (self.tracking_uri, self.registry_uri):
                if (artifacts := sqlite_artifact_root(uri)) is not None:
                    artifacts.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates files, not folders
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
            raise registry_failure(
                self.registry_uri, f"failed to answer for {name} v{version}", error
            ) from error
        except Exception as error:  # network and driver errors come in many types
            raise registry_failure(self.registry_uri, "is unreachable", error) from error
        return _record(found)

    def versions(self, name: str) -> list[RegisteredVersion]:
        """Every version of ``name``, oldest first (none when the model does not exist yet)."""
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_model_versions(f"name = '{_quote(name)}'")
        except MlflowException as error:
            if _is_not_found(error):
                return []
            raise registry_failure(
                self.registry_uri, f"could not list the versions of {name}", error
            ) from error
        except Exception as error:
            raise registry_failure(self.registry_uri, "is unreachable", error) from error
        return sorted((_record(v) for v in found), key=lambda r: r.version)

    def find(self, name: str, tags: Mapping[str, str]) -> RegisteredVersion | None:
        """The newest version of ``name`` carrying all of ``tags`` (for idempotent registration).

        Compared here rather than in the search filter: Azure ML's MLflow does not search by tag.
        """
        matching = [
            v for v in self.versions(name) if all(v.tags.get(k) == value for k, value in tags.items())
        ]
        return matching[-1] if matching else None

    def register(self, name: str, run_id: str, source: str, tags: Mapping[str, str]) -> RegisteredVersion:
        """Create a version, unless one already exists for this run or this lineage (then return it)."""
        for key, value in ((TAG_RUN_ID, run_id), (TAG_LINEAGE, tags.get(TAG_LINEAGE))):
            if value and (existing := self.find(name, {key: value})):
                return existing
        return self.create_version(name, run_id, source, {TAG_TRAINING_RUN: run_id, **tags})

    def create_version(
        self, name: str, run_id: str, source: str, tags: Mapping[str, str]
    ) -> RegisteredVersion:
        """A new version of ``name`` for the artifact ``source`` logged by ``run_id``, ready or refused.

        A version the registry could not make ready (its status is not READY after waiting) is deleted,
        so a failed registration never leaves a version behind that a pin could name.
        """
        try:
            self._ensure_registered_model(name)
            created = self.client.create_model_version(
                name, source, run_id=run_id, tags={**tags, TAG_RUN_ID: run_id}, await_creation_for=60
            )
        except Exception as error:  # permissions, network and store errors come in many types
            raise RegistryError(
                f"registry {self.registry_uri} refused to register {name}: {error}"
            ) from error
        status = str(getattr(created, "status", "READY") or "READY")
        if status != "READY":
            self.delete_version(name, int(created.version))
            raise RegistryError(
                f"registry {self.registry_uri} did not make {name} v{created.version} ready ({status}): deleted it"
            )
        return _record(created)

    def delete_version(self, name: str, version: int) -> None:
        """Remove a version that must not be used (a failed registration or a copy that failed its check)."""
        try:
            self.client.delete_model_version(name, str(version))
        except Exception as error:
            raise RegistryError(
                f"registry {self.registry_uri}: could not delete {name} v{version}, which must not be "
                f"pinned; delete it by hand: {error}"
            ) from error

    def upload(
        self, folder: Path, experiment: str, run_name: str, tags: Mapping[str, str]
    ) -> tuple[str, str]:
        """Log ``folder`` as the ``model`` artifact of a new, finished run; returns (run id, its model URI).

        A model is registered from a run of the same registry (Azure ML registers nothing across
        workspaces), so a copy is first uploaded into a run here. The run ends FAILED if the upload does.
        """
        from mlflow.entities import RunStatus

        try:
            experiment_id = self._experiment_id(experiment)
            run = self.client.create_run(experiment_id, tags=dict(tags), run_name=run_name)
        except Exception as error:
            raise registry_failure(self.tracking_uri, "could not start the upload run", error) from error
        run_id = run.info.run_id
        try:
            self.client.log_artifacts(run_id, str(folder), "model")
        except Exception as error:
            self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
            raise RegistryError(
                f"registry {self.tracking_uri}: uploading the model failed: {error}"
            ) from error
        self.client.set_terminated(run_id)
        return run_id, f"{run.info.artifact_uri}/model"

    def _experiment_id(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = sqlite_artifact_root(self.tracking_uri)
        return self.client.create_experiment(name, artifact_location=location.as_uri() if location else None)

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


def registry_failure(uri: str, what: str, error: Exception) -> RegistryError:
    """The error to raise: RegistryUnreachableError when the transport gave up (MLflow's retries, bounded
    by the retry budget, are exhausted), else a RegistryError saying what failed."""
    text = str(error)
    if any(sign in text for sign in _TRANSPORT_FAILURES):
        from model_contract.registry_retries import RetryBudget

        budget = RetryBudget.in_force()
        return RegistryUnreachableError(
            f"registry {uri} is unreachable: no answer within {budget.describe()}: {text}"
        )
    return RegistryError(f"registry {uri} {what}: {text}")


# How requests/urllib3 failures read once MLflow wraps them ("API request to ... failed with exception ...").
_TRANSPORT_FAILURES = ("Max retries exceeded", "Connection refused", "Read timed out", "ConnectTimeout",
                       "Connection aborted", "RemoteDisconnected")  # fmt: skip


def _is_not_found(error: Exception) -> bool:
    """The registry answered "no such model or version" (not: "no such endpoint", a wrong URI)."""
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST"


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
