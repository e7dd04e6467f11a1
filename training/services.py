"""Building the pipeline's services from the environment, once, at the edge.

The embedded default needs no settings: a SQLite registry and a bare git remote under ``.mlops/``, and
pull requests recorded beside it. Environment variables switch each part to its cloud counterpart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from training.gitops_remote import ensure_local_remote
from training.local_state import gitops_remote_path, project_root, pull_request_store
from training.pipeline import Services
from training.pull_requests.local import LocalPullRequests
from training.registry import ModelRegistry

ProviderName = Literal["local"]


class SettingsError(ValueError):
    """An environment variable has a value the job cannot use; the message names the variable."""


@dataclass(frozen=True)
class JobSettings:
    tracking_uri: str | None
    registry_uri: str | None
    provider: ProviderName

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> JobSettings:
        provider = environ.get("GITOPS_PROVIDER", "local")
        if provider not in ("local",):
            raise SettingsError(f"GITOPS_PROVIDER={provider!r}: expected one of local")
        return cls(
            tracking_uri=environ.get("MLFLOW_TRACKING_URI") or None,
            registry_uri=environ.get("MLFLOW_REGISTRY_URI") or None,
            provider=provider,  # type: ignore[arg-type]
        )


def build_services(settings: JobSettings) -> Services:
    registry = ModelRegistry(settings.tracking_uri, settings.registry_uri)
    remote = ensure_local_remote(gitops_remote_path(), project_root())
    provider = LocalPullRequests(pull_request_store(), remote)
    return Services(registry=registry, remote=remote, provider=provider, preview=_preview())


def local_pull_requests() -> LocalPullRequests:
    remote = ensure_local_remote(gitops_remote_path(), project_root())
    return LocalPullRequests(pull_request_store(), remote)


def _preview():
    try:
        from training.overlay_render import render_overlay
    except ImportError:
        return None
    return render_overlay
