"""Settings from the environment: the default needs none; cloud providers name what they miss."""

import base64

import pytest

from delivery.pull_requests.azure_repos import AzureReposPullRequests
from delivery.pull_requests.github import GitHubPullRequests
from delivery.services import JobSettings, SettingsError, build_services

TOKEN = "ghp_fake_token_for_tests_only"


def test_an_unknown_provider_is_refused_by_variable_name():
    with pytest.raises(
        SettingsError, match="GITOPS_PROVIDER='gitlab': expected one of local, github, azure-repos"
    ):
        JobSettings.from_environment({"GITOPS_PROVIDER": "gitlab"})


def test_github_needs_its_token_and_repository():
    with pytest.raises(SettingsError, match="GITHUB_TOKEN is not set"):
        build_services(
            JobSettings.from_environment({"GITOPS_PROVIDER": "github", "GITHUB_REPOSITORY": "o/r"})
        )
    with pytest.raises(SettingsError, match="GITHUB_REPOSITORY is not set"):
        build_services(JobSettings.from_environment({"GITOPS_PROVIDER": "github", "GITHUB_TOKEN": TOKEN}))


def test_github_settings_build_a_remote_whose_url_and_repr_carry_no_token():
    settings = JobSettings.from_environment(
        {"GITOPS_PROVIDER": "github", "GITHUB_REPOSITORY": "octo-org/gitops", "GITHUB_TOKEN": TOKEN}
    )
    services = build_services(settings)
    assert isinstance(services.provider, GitHubPullRequests)
    assert services.remote.url == "https://github.com/octo-org/gitops.git"
    assert TOKEN not in repr(settings) and TOKEN not in repr(services.remote)
    header = services.remote.auth_env["GIT_CONFIG_VALUE_0"]
    scheme, credential = header.removeprefix("Authorization: ").split(" ")
    assert scheme == "Basic" and base64.b64decode(credential).decode() == f"x-access-token:{TOKEN}"


def test_azure_repos_uses_the_pipeline_bearer_token_when_no_pat_is_set():
    services = build_services(
        JobSettings.from_environment({
            "GITOPS_PROVIDER": "azure-repos", "AZURE_DEVOPS_ORG_URL": "https://dev.azure.com/fabrikam",
            "AZURE_DEVOPS_PROJECT": "pricing", "AZURE_DEVOPS_REPOSITORY": "platform", "SYSTEM_ACCESSTOKEN": "t0k",
        })
    )  # fmt: skip
    assert isinstance(services.provider, AzureReposPullRequests)
    assert services.remote.url == "https://dev.azure.com/fabrikam/pricing/_git/platform"
    assert services.remote.auth_env["GIT_CONFIG_VALUE_0"] == "Authorization: Bearer t0k"


def test_azure_repos_without_any_token_is_refused():
    with pytest.raises(SettingsError, match=r"AZURE_DEVOPS_EXT_PAT .* or SYSTEM_ACCESSTOKEN"):
        build_services(JobSettings.from_environment({"GITOPS_PROVIDER": "azure-repos"}))
