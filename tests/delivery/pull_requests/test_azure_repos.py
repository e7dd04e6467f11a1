"""The Azure Repos provider against exchanges recorded from the Azure DevOps REST API documentation."""

import base64

import pytest

from delivery.pull_requests.azure_repos import DESCRIPTION_LIMIT, AzureReposPullRequests
from delivery.pull_requests.base import PullRequestError
from tests.delivery.pull_requests.replay import Exchange, Replay, error_exchange, recording

AZURE = recording("azure_repos")
PULLS = "/fabrikam/pricing/_apis/git/repositories/property-price-platform/pullrequests"
PAT = "fake-pat-for-tests-only"


def provider(*exchanges: Exchange, bearer: bool = False) -> tuple[AzureReposPullRequests, Replay]:
    replay = Replay(*exchanges)
    credentials = {"bearer_token": PAT} if bearer else {"pat": PAT}
    repos = AzureReposPullRequests("https://dev.azure.com/fabrikam", "pricing", "property-price-platform",
                                   transport=replay, **credentials)  # fmt: skip
    return repos, replay


def test_find_open_searches_active_pull_requests_by_source_ref_with_basic_pat_auth():
    repos, replay = provider(
        Exchange("GET", PULLS, 200, {"value": [AZURE["pull_request"]], "count": 1},
                 query={"searchCriteria.status": "active", "$top": 1000,
                        "searchCriteria.sourceRefName": "refs/heads/mlops/dev/bump-ames-price", "api-version": "7.1"})
    )  # fmt: skip
    pr = repos.find_open("mlops/dev/bump-ames-price")
    assert (pr.number, pr.head, pr.base, pr.state) == (22, "mlops/dev/bump-ames-price", "main", "open")
    assert pr.url == "https://dev.azure.com/fabrikam/pricing/_git/property-price-platform/pullrequest/22"
    expected = "Basic " + base64.b64encode(f":{PAT}".encode()).decode()
    assert replay.requests[0].headers["authorization"] == expected


def test_a_pipeline_bearer_token_is_sent_as_bearer():
    repos, replay = provider(Exchange("GET", PULLS, 200, {"value": [], "count": 0}), bearer=True)
    assert repos.list_open() == []
    assert replay.requests[0].headers["authorization"] == f"Bearer {PAT}"


def test_create_update_and_abandon_send_the_documented_requests():
    created = AZURE["pull_request"]
    repos, replay = provider(
        Exchange("POST", PULLS, 201, created, body={"sourceRefName": "refs/heads/mlops/dev/bump-ames-price",
                 "targetRefName": "refs/heads/main", "title": "T", "description": "B"}),
        Exchange("PATCH", f"{PULLS}/22", 200, {**created, "title": "T2"}, body={"title": "T2", "description": "B2"}),
        Exchange("POST", f"{PULLS}/20/threads", 200, AZURE["thread"],
                 body={"comments": [{"parentCommentId": 0, "content": "Superseded by #22.", "commentType": 1}], "status": 4}),
        Exchange("PATCH", f"{PULLS}/20", 200, {**AZURE["older_pull_request"], "status": "abandoned"},
                 body={"status": "abandoned"}),
    )  # fmt: skip
    assert repos.create("mlops/dev/bump-ames-price", "main", "T", "B").number == 22
    assert repos.update(22, "T2", "B2").title == "T2"
    assert repos.close(20, "Superseded by #22.").state == "closed"
    assert replay.done


def test_long_bodies_are_cut_to_the_description_limit():
    repos, replay = provider(Exchange("POST", PULLS, 201, AZURE["pull_request"]))
    repos.create("mlops/dev/bump-ames-price", "main", "T", "x" * 10_000)
    import json

    description = json.loads(replay.requests[0].content)["description"]
    assert len(description) <= DESCRIPTION_LIMIT and "cut to Azure Repos" in description


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("203", "HTTP 203 sign-in page (the token was rejected"),
        ("401", "HTTP 401: TF400813"),
        ("403", "HTTP 403: TF401027: You need the Git 'PullRequestContribute' permission"),
        ("404", "HTTP 404: TF401019"),
        (
            "409",
            "HTTP 409: TF401179: An active pull request for the source and target branch already exists.",
        ),
        ("422", "HTTP 422: TF401398"),
        ("429", "rate limited: retry after 30s"),
    ],
)
def test_documented_errors_become_clear_messages_without_the_token(status, expected):
    repos, _ = provider(error_exchange(AZURE, status, "POST", PULLS))
    with pytest.raises(PullRequestError) as raised:
        repos.create("mlops/dev/bump-ames-price", "main", "T", "B")
    assert str(raised.value).startswith(
        "Azure Repos: open a pull request from mlops/dev/bump-ames-price failed"
    )
    assert expected in str(raised.value)
    assert PAT not in str(raised.value)


def test_missing_credentials_are_refused_by_name():
    with pytest.raises(PullRequestError, match="AZURE_DEVOPS_EXT_PAT or SYSTEM_ACCESSTOKEN"):
        AzureReposPullRequests("https://dev.azure.com/fabrikam", "pricing", "repo")
    with pytest.raises(PullRequestError, match="AZURE_DEVOPS_PROJECT is not set"):
        AzureReposPullRequests("https://dev.azure.com/fabrikam", "", "repo", pat=PAT)
