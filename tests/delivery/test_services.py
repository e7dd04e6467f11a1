"""Delivery's settings from the environment: the default needs none; cloud providers name, at once and one
line each, every setting they miss."""

import base64

import pytest

from delivery.pull_requests.azure_repos import AzureReposPullRequests
from delivery.pull_requests.github import GitHubPullRequests
from delivery.services import build_services
from delivery.settings import DeliverySettings
from model_contract.config_error import ConfigError

TOKEN = "ghp_fake_token_for_tests_only"


def refusal(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        DeliverySettings.from_environment(environ)
    return str(raised.value).splitlines()


def test_an_unknown_provider_is_refused_by_variable_name():
    assert refusal({"GITOPS_PROVIDER": "gitlab"}) == [
        "GITOPS_PROVIDER: 'gitlab' is not one of the choices; allowed: local, github or azure-repos"
    ]


def test_github_needs_its_token_and_repository_both_named_at_once():
    assert refusal({"GITOPS_PROVIDER": "github"}) == [
        "GITHUB_TOKEN: not set, and GITOPS_PROVIDER=github needs it; allowed: a token that may write pull "
        "requests and contents of the repository",
        "GITHUB_REPOSITORY: not set, and GITOPS_PROVIDER=github needs it; allowed: owner/name of the gitops "
        "repository",
    ]
    assert refusal({"GITOPS_PROVIDER": "github", "GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "gitops"}) == [
        "GITHUB_REPOSITORY: 'gitops' does not match ^[^/\\s]+/[^/\\s]+$; allowed: "
        "owner/name of the gitops repository on GitHub"
    ]
    assert all(TOKEN not in line for line in refusal({"GITOPS_PROVIDER": "github", "GITHUB_TOKEN": TOKEN}))


def test_github_settings_build_a_remote_whose_url_and_repr_carry_no_token():
    settings = DeliverySettings.from_environment(
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
        DeliverySettings.from_environment({
            "GITOPS_PROVIDER": "azure-repos", "AZURE_DEVOPS_ORG_URL": "https://dev.azure.com/fabrikam",
            "AZURE_DEVOPS_PROJECT": "pricing", "AZURE_DEVOPS_REPOSITORY": "platform", "SYSTEM_ACCESSTOKEN": "t0k",
        })
    )  # fmt: skip
    assert isinstance(services.provider, AzureReposPullRequests)
    assert services.remote.url == "https://dev.azure.com/fabrikam/pricing/_git/platform"
    assert services.remote.auth_env["GIT_CONFIG_VALUE_0"] == "Authorization: Bearer t0k"


def test_azure_repos_without_its_repository_or_any_token_is_refused_naming_each_variable():
    assert [line.split(":")[0] for line in refusal({"GITOPS_PROVIDER": "azure-repos"})] == [
        "AZURE_DEVOPS_ORG_URL", "AZURE_DEVOPS_PROJECT", "AZURE_DEVOPS_REPOSITORY", "AZURE_DEVOPS_EXT_PAT",
    ]  # fmt: skip
