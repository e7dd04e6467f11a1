"""Delivery's services, built once from its settings (delivery/settings.py): each environment's registry,
the gitops remote and its pull-request provider, the overlay preview, and the environments' container
registries."""

from __future__ import annotations

from dataclasses import dataclass

from delivery.container_images import (
    AzureContainerRegistries,
    ContainerRegistries,
)
from delivery.git import auth_environment
from delivery.gitops_remote import GitopsRemote, ensure_local_remote
from delivery.pin_change import Preview
from delivery.pull_requests.base import PullRequestProvider
from delivery.pull_requests.local import LocalPullRequests
from delivery.settings import DeliverySettings
from model_contract.environment_registries import EnvironmentRegistries
from model_contract.local_state import gitops_remote_path, project_root, pull_request_store
from model_contract.registry import ModelRegistry


@dataclass(frozen=True)
class Services:
    """Where delivery reads and writes: each environment's registry, the gitops remote and its pull
    requests, and (for promotions) the environments' container registries."""

    registries: EnvironmentRegistries
    remote: GitopsRemote
    provider: PullRequestProvider
    preview: Preview | None = None
    images: ContainerRegistries | None = None

    def registry(self, env: str) -> ModelRegistry:
        return self.registries.registry(env)


def build_services(settings: DeliverySettings) -> Services:
    remote, provider = _gitops(settings)
    images = AzureContainerRegistries(settings.container_registry_ids)
    return Services(build_registries(settings), remote, provider, _preview(), images)


def build_registries(settings: DeliverySettings) -> EnvironmentRegistries:
    """Each environment's registry, by the rules of model_contract/environment_registries.py."""
    return EnvironmentRegistries.resolve(
        settings.environment_tracking_uris, settings.tracking_uri, settings.registry_uri
    )


def local_pull_requests() -> LocalPullRequests:
    remote = ensure_local_remote(gitops_remote_path(), project_root())
    return LocalPullRequests(pull_request_store(), remote)


def _gitops(settings: DeliverySettings) -> tuple[GitopsRemote, PullRequestProvider]:
    if settings.provider == "local":
        provider = local_pull_requests()
        return provider.remote, provider
    if settings.provider == "github":
        return _github(settings)
    return _azure_repos(settings)


def _github(settings: DeliverySettings) -> tuple[GitopsRemote, PullRequestProvider]:
    from delivery.pull_requests.github import GitHubPullRequests

    token = settings.secrets["GITHUB_TOKEN"]  # DeliverySettings refuses the github provider without it
    url = settings.remote_url or f"https://github.com/{settings.github_repository}.git"
    remote = GitopsRemote(url, settings.default_branch, auth_environment(token))
    return remote, GitHubPullRequests(settings.github_repository, token, settings.github_api_url)


def _azure_repos(settings: DeliverySettings) -> tuple[GitopsRemote, PullRequestProvider]:
    from delivery.pull_requests.azure_repos import AzureReposPullRequests

    pat, bearer = settings.secrets.get("AZURE_DEVOPS_EXT_PAT"), settings.secrets.get("SYSTEM_ACCESSTOKEN")
    provider = AzureReposPullRequests(
        settings.azure_devops_org_url, settings.azure_devops_project, settings.azure_devops_repository,
        pat=pat, bearer_token=None if pat else bearer,
    )  # fmt: skip
    url = settings.remote_url or provider.web
    auth = auth_environment(pat, username="pat") if pat else auth_environment(bearer, scheme="Bearer")
    return GitopsRemote(url, settings.default_branch, auth), provider


def _preview():
    """The rendered-manifest diff for PR bodies, when kubectl is installed (it is, in the project venv)."""
    from delivery.overlay_render import render_overlay

    return render_overlay
