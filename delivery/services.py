"""Building the job's services from the environment, once, at the edge.

The embedded default needs no settings: a SQLite registry and a bare git remote under ``.mlops/``, and
pull requests recorded beside it. Environment variables switch each part to its cloud counterpart:

- ``MLFLOW_TRACKING_URI_<ENV>`` (``_DEV``, ``_QA``, ``_PROD``): each environment's registry, its Azure ML
  workspace's MLflow URI; else ``MLFLOW_TRACKING_URI`` (and ``MLFLOW_REGISTRY_URI``) for every environment
  (see model_contract/environment_registries.py: promotions refuse that one).
- ``CONTAINER_REGISTRY_ID_<ENV>``: the resource id of an environment's container registry, needed when a
  promotion imports an image from a registry in another subscription (delivery/container_images.py).
- ``REGISTRY_RETRY_SECONDS``: how long a registry call may retry before it is reported unreachable (30).
- ``GITOPS_PROVIDER=github``: ``GITHUB_REPOSITORY`` (owner/name), ``GITHUB_TOKEN``, optional
  ``GITHUB_API_URL`` (GitHub Enterprise) and ``GITOPS_REMOTE_URL``.
- ``GITOPS_PROVIDER=azure-repos``: ``AZURE_DEVOPS_ORG_URL``, ``AZURE_DEVOPS_PROJECT``,
  ``AZURE_DEVOPS_REPOSITORY``, and ``AZURE_DEVOPS_EXT_PAT`` (a PAT) or ``SYSTEM_ACCESSTOKEN`` (the
  pipeline's bearer token); optional ``GITOPS_REMOTE_URL``.
- ``GITOPS_DEFAULT_BRANCH`` (default ``main``).

Tokens stay in memory: they reach git through environment variables (see delivery/git.py) and the REST
APIs through headers, and are never written to disk or printed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from delivery.container_images import (
    AzureContainerRegistries,
    ContainerRegistries,
    registry_ids_from_environment,
)
from delivery.git import auth_environment
from delivery.gitops_remote import DEFAULT_BRANCH, GitopsRemote, ensure_local_remote
from delivery.pin_change import Preview
from delivery.pull_requests.base import PullRequestProvider
from delivery.pull_requests.local import LocalPullRequests
from model_contract.environment_registries import EnvironmentRegistries, registry_variable
from model_contract.local_state import gitops_remote_path, project_root, pull_request_store
from model_contract.pins import ENVIRONMENTS
from model_contract.registry import ModelRegistry

ProviderName = Literal["local", "github", "azure-repos"]
PROVIDERS: tuple[str, ...] = ("local", "github", "azure-repos")


class SettingsError(ValueError):
    """An environment variable is missing or has a value the job cannot use; the message names it."""


@dataclass(frozen=True)
class JobSettings:
    provider: ProviderName = "local"
    tracking_uri: str | None = None
    registry_uri: str | None = None
    environment_tracking_uris: Mapping[str, str] = field(default_factory=dict)
    container_registry_ids: Mapping[str, str] = field(default_factory=dict)
    default_branch: str = DEFAULT_BRANCH
    remote_url: str | None = None
    github_repository: str = ""
    github_api_url: str = "https://api.github.com"
    azure_devops_org_url: str = ""
    azure_devops_project: str = ""
    azure_devops_repository: str = ""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> JobSettings:
        provider = environ.get("GITOPS_PROVIDER", "local")
        if provider not in PROVIDERS:
            raise SettingsError(f"GITOPS_PROVIDER={provider!r}: expected one of {', '.join(PROVIDERS)}")
        secret_names = ("GITHUB_TOKEN", "AZURE_DEVOPS_EXT_PAT", "SYSTEM_ACCESSTOKEN")
        return cls(
            provider=provider,  # type: ignore[arg-type]
            tracking_uri=environ.get("MLFLOW_TRACKING_URI") or None,
            registry_uri=environ.get("MLFLOW_REGISTRY_URI") or None,
            environment_tracking_uris={
                env: environ[registry_variable(env)]
                for env in ENVIRONMENTS
                if environ.get(registry_variable(env))
            },
            container_registry_ids=registry_ids_from_environment(environ, ENVIRONMENTS),
            default_branch=environ.get("GITOPS_DEFAULT_BRANCH") or DEFAULT_BRANCH,
            remote_url=environ.get("GITOPS_REMOTE_URL") or None,
            github_repository=environ.get("GITHUB_REPOSITORY", ""),
            github_api_url=environ.get("GITHUB_API_URL") or "https://api.github.com",
            azure_devops_org_url=environ.get("AZURE_DEVOPS_ORG_URL", ""),
            azure_devops_project=environ.get("AZURE_DEVOPS_PROJECT", ""),
            azure_devops_repository=environ.get("AZURE_DEVOPS_REPOSITORY", ""),
            secrets={name: environ[name] for name in secret_names if environ.get(name)},
        )


@dataclass(frozen=True)
class Services:
    """Where the job reads and writes: each environment's registry, the gitops remote and its pull
    requests, and (for promotions) the environments' container registries."""

    registries: EnvironmentRegistries
    remote: GitopsRemote
    provider: PullRequestProvider
    preview: Preview | None = None
    images: ContainerRegistries | None = None

    def registry(self, env: str) -> ModelRegistry:
        return self.registries.registry(env)


def build_services(settings: JobSettings) -> Services:
    remote, provider = _gitops(settings)
    images = AzureContainerRegistries(settings.container_registry_ids)
    return Services(build_registries(settings), remote, provider, _preview(), images)


def build_registries(settings: JobSettings) -> EnvironmentRegistries:
    """Each environment's registry, by the rules of model_contract/environment_registries.py."""
    return EnvironmentRegistries.resolve(
        settings.environment_tracking_uris, settings.tracking_uri, settings.registry_uri
    )


def build_registry(settings: JobSettings, env: str) -> ModelRegistry:
    """One environment's registry alone, for steps that need no gitops remote (Azure ML's train, register)."""
    return build_registries(settings).registry(env)


def local_pull_requests() -> LocalPullRequests:
    remote = ensure_local_remote(gitops_remote_path(), project_root())
    return LocalPullRequests(pull_request_store(), remote)


def _gitops(settings: JobSettings) -> tuple[GitopsRemote, PullRequestProvider]:
    if settings.provider == "local":
        provider = local_pull_requests()
        return provider.remote, provider
    if settings.provider == "github":
        return _github(settings)
    return _azure_repos(settings)


def _github(settings: JobSettings) -> tuple[GitopsRemote, PullRequestProvider]:
    from delivery.pull_requests.github import GitHubPullRequests

    token = _require(settings, "GITHUB_TOKEN")
    if not settings.github_repository:
        raise SettingsError("GITHUB_REPOSITORY is not set (owner/name of the gitops repository)")
    url = settings.remote_url or f"https://github.com/{settings.github_repository}.git"
    remote = GitopsRemote(url, settings.default_branch, auth_environment(token))
    return remote, GitHubPullRequests(settings.github_repository, token, settings.github_api_url)


def _azure_repos(settings: JobSettings) -> tuple[GitopsRemote, PullRequestProvider]:
    from delivery.pull_requests.azure_repos import AzureReposPullRequests

    pat, bearer = settings.secrets.get("AZURE_DEVOPS_EXT_PAT"), settings.secrets.get("SYSTEM_ACCESSTOKEN")
    if not (pat or bearer):
        raise SettingsError("set AZURE_DEVOPS_EXT_PAT (a PAT) or SYSTEM_ACCESSTOKEN (bearer) for Azure Repos")
    provider = AzureReposPullRequests(
        settings.azure_devops_org_url, settings.azure_devops_project, settings.azure_devops_repository,
        pat=pat, bearer_token=None if pat else bearer,
    )  # fmt: skip
    url = settings.remote_url or provider.web
    auth = auth_environment(pat, username="pat") if pat else auth_environment(bearer, scheme="Bearer")
    return GitopsRemote(url, settings.default_branch, auth), provider


def _require(settings: JobSettings, name: str) -> str:
    value = settings.secrets.get(name)
    if not value:
        raise SettingsError(f"{name} is not set: GITOPS_PROVIDER={settings.provider} needs it")
    return value


def _preview():
    """The rendered-manifest diff for PR bodies, when kubectl is installed (it is, in the project venv)."""
    from delivery.overlay_render import render_overlay

    return render_overlay
