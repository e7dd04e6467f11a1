"""Copying a registered version into another environment's registry: the same bytes, its lineage kept.

A pin names a version of its own environment's registry, and Azure ML neither manages models in
organizational registries through MLflow nor registers across workspaces. So promoting version N from A
to B downloads N from A (checked against A's sha256), uploads it into a run of B, registers it there with
its lineage, downloads it back from B and checks the sha256 again: only then may a pin name it. A copy
that fails any check is deleted before the error is raised, so B never holds a half-copied version.

Idempotent: B's versions of the model are searched first, and one with the same sha256 and lineage key
(an earlier copy, or the same model trained in B) is reused instead of registering another.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model_contract.registry import (
    TAG_CONFIG,
    TAG_FINGERPRINT,
    TAG_GIT_COMMIT,
    TAG_LINEAGE,
    TAG_METRICS,
    TAG_SHA256,
    TAG_SIGNATURE,
    TAG_TRAINING_RUN,
    ModelRegistry,
    RegisteredVersion,
    RegistryError,
)

TAG_SOURCE_ENV = "promoted_from_env"
TAG_SOURCE_VERSION = "promoted_from_version"
TAG_SOURCE_REGISTRY = "promoted_from_registry"
# What a copy carries over from its source: everything that says what the model is and where it came from.
LINEAGE_TAGS = (
    TAG_SHA256,
    TAG_LINEAGE,
    TAG_METRICS,
    TAG_FINGERPRINT,
    TAG_CONFIG,
    TAG_GIT_COMMIT,
    TAG_SIGNATURE,
)


@dataclass(frozen=True)
class CopiedVersion:
    """Version ``source`` of the source environment's registry, as ``target`` in the target's."""

    source_env: str
    source: RegisteredVersion
    target_env: str
    target: RegisteredVersion
    reused: bool

    def describe(self) -> str:
        how = "already there" if self.reused else "copied"
        return (
            f"{self.source_env} {self.source.describe()} -> {self.target_env} {self.target.describe()} "
            f"({how}, sha256 {self.source.sha256})"
        )


def copy_version(
    source_registry: ModelRegistry, source_env: str, source: RegisteredVersion,
    target_registry: ModelRegistry, target_env: str,
) -> CopiedVersion:  # fmt: skip
    """``source`` in ``target_registry``, copied unless a verified copy is already there."""
    if not source.sha256:
        raise RegistryError(
            f"{source_env} {source.describe()} has no {TAG_SHA256} tag: it cannot be verified, so it is not copied"
        )
    existing = find_copy(target_registry, source)
    if existing is not None:
        return CopiedVersion(source_env, source, target_env, existing, reused=True)
    with tempfile.TemporaryDirectory(prefix="model-copy-") as folder:
        artifact = source_registry.download(
            source, Path(folder) / "model"
        )  # checked against the source's sha256
        run_id, uri = target_registry.upload(
            artifact, source.name, f"promote-{source.name}-v{source.version}-from-{source_env}",
            {"purpose": "promotion", TAG_SOURCE_ENV: source_env, TAG_SOURCE_VERSION: str(source.version)},
        )  # fmt: skip
        created = target_registry.create_version(
            source.name, run_id, uri, copy_tags(source, source_env, source_registry.registry_uri)
        )
        _verify_readback(target_registry, created, Path(folder) / "readback")
    return CopiedVersion(source_env, source, target_env, created, reused=False)


def find_copy(registry: ModelRegistry, source: RegisteredVersion) -> RegisteredVersion | None:
    """A version in ``registry`` holding the same bytes (sha256) of the same lineage as ``source``."""
    wanted = {TAG_SHA256: source.sha256 or "", TAG_LINEAGE: source.tags.get(TAG_LINEAGE, "")}
    return registry.find(source.name, wanted)


def copy_tags(source: RegisteredVersion, source_env: str, source_registry: str) -> Mapping[str, str]:
    tags = {key: source.tags[key] for key in LINEAGE_TAGS if key in source.tags}
    return {
        **tags,
        TAG_TRAINING_RUN: source.training_run_id or "",
        TAG_SOURCE_ENV: source_env,
        TAG_SOURCE_VERSION: str(source.version),
        TAG_SOURCE_REGISTRY: source_registry,
    }


def _verify_readback(registry: ModelRegistry, created: RegisteredVersion, folder: Path) -> None:
    """Download the new version from the target and check its sha256; delete it if the check fails."""
    try:
        registry.download(created, folder)
    except RegistryError as error:
        registry.delete_version(created.name, created.version)
        raise RegistryError(
            f"the copy {created.describe()} in {registry.registry_uri} failed its read-back check and was "
            f"deleted: {error}"
        ) from error
